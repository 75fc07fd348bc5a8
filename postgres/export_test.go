package postgres

// Stored returns the key that a Lock with prefix stores for key.
func Stored(prefix, key string) []byte { return (&backend{prefix: prefix}).stored(key) }
