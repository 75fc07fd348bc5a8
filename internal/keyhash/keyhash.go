// Package keyhash maps a lock key of any length to a store key of bounded
// length, injectively: the backends whose stores take any bytes but limit
// a key's size (a btree row of PostgreSQL, etcd's index) store short keys
// as they are and long ones by their hash.
package keyhash

import "crypto/sha256"

// MaxPlain is the longest key kept as it is.
const MaxPlain = 256

// Mark begins every hashed key, and no plain one.
const Mark = 0xff

// Map returns k when it is at most MaxPlain bytes and does not begin with
// Mark, else Mark and the SHA-256 of k (33 bytes). No two keys map to one
// (but for a collision of SHA-256): a plain key never begins with Mark, a
// hashed one always does.
func Map(k string) string {
	if len(k) <= MaxPlain && (k == "" || k[0] != Mark) {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return string(append([]byte{Mark}, sum[:]...))
}
