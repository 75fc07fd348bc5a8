package etcd

// Stored returns the etcd key that a Lock with prefix stores for key.
func Stored(prefix, key string) string { return (&backend{prefix: prefix}).stored(key) }

// Answer reports whether err is an answer of the cluster (see answer).
var Answer = answer
