package etcd

// Stored returns the etcd key that a Lock with prefix stores for key.
func Stored(prefix, key string) string { return (&backend{prefix: prefix}).stored(key) }
