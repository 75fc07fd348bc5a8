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
