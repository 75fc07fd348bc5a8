package memcached

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// hashMarker starts the hashed part of a native key. Keys that start with it
// are hashed too, so a hashed key never equals a verbatim one.
const hashMarker = '#'

// hashedLen is the length of a hashed key after the prefix: the marker and
// a base64url SHA-256.
const hashedLen = 1 + 43

// legal reports whether s may appear in a memcached key: no spaces, control
// characters or DEL.
func legal(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// keyMapper maps lock keys to memcached keys, injectively and safely: the
// result is always a legal key of at most max bytes.
type keyMapper struct {
	prefix string
	max    int
}

func newKeyMapper(prefix string, max int) (keyMapper, error) {
	if !legal(prefix) {
		return keyMapper{}, fmt.Errorf("prefix %q has spaces or control characters", prefix)
	}
	if len(prefix)+hashedLen > max {
		return keyMapper{}, fmt.Errorf("prefix %q leaves no room for a hashed key within max_key_size %d", prefix, max)
	}
	return keyMapper{prefix: prefix, max: max}, nil
}

// native returns the memcached key of key: prefix+key when that is legal and
// key does not start with the marker, else prefix+marker+hash(key).
func (m keyMapper) native(key string) string {
	if !strings.HasPrefix(key, string(hashMarker)) && len(m.prefix)+len(key) <= m.max && legal(key) {
		return m.prefix + key
	}
	sum := sha256.Sum256([]byte(key))
	var b [hashedLen]byte
	b[0] = hashMarker
	base64.RawURLEncoding.Encode(b[1:], sum[:])
	return m.prefix + string(b[:])
}

// scope names the mapping, for driver.Scoper.
func (m keyMapper) scope() string { return fmt.Sprintf("prefix %q max_key_size %d", m.prefix, m.max) }

// fenceTag starts the key of a fence counter, after the prefix: it begins
// with the marker, so that no lock key sent as is can equal it, and holds
// ':', which base64url lacks, so that no hashed lock key can either.
const fenceTag = "#f:"

// fence returns the memcached key of the fence counter of the lock stored
// under native (a key that native returned): prefix+"#f:"+rest, where
// native is prefix+rest, when that fits within max bytes, else
// prefix+"#:"+ the first 42 characters of base64url(SHA-256(native)), as
// long as a hashed lock key. Either form starts with the marker and holds
// ':', so it never equals a lock key; the two forms differ in their second
// character, and each is injective (the second short of a collision of
// 252 bits of SHA-256), so two locks never share a counter.
func (m keyMapper) fence(native string) string {
	if len(native)+len(fenceTag) <= m.max {
		return m.prefix + fenceTag + native[len(m.prefix):]
	}
	sum := sha256.Sum256([]byte(native))
	var b [hashedLen]byte
	b[0], b[1] = hashMarker, ':'
	var enc [43]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	copy(b[2:], enc[:])
	return m.prefix + string(b[:])
}
