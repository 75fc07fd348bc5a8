package memcachedtest

import (
	"math"
	"strings"
)

// This file parses numbers the way memcached's C library calls do.

// cNumber scans s the way C's strtol family does: optional leading white
// space, an optional sign and decimal digits, which must be followed by the
// end of s or by white space. It returns the sign, the magnitude (saturated
// on overflow) and whether s was acceptable.
func cNumber(s string) (neg bool, mag uint64, overflow, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if mag > (math.MaxUint64-d)/10 {
			overflow = true
			mag = math.MaxUint64
		} else if !overflow {
			mag = mag*10 + d
		}
		i++
	}
	if i == start {
		return false, 0, false, false
	}
	if i < len(s) && !isSpace(s[i]) {
		return false, 0, false, false
	}
	return neg, mag, overflow, true
}

// isSpace reports whether c is white space for C's isspace.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// strtol32 mirrors memcached's safe_strtol: a 64-bit strtol whose result is
// truncated to 32 bits.
func strtol32(s string) (int32, bool) {
	neg, mag, overflow, ok := cNumber(s)
	if !ok || overflow {
		return 0, false
	}
	var v int64
	if neg {
		if mag > 1<<63 {
			return 0, false
		}
		v = -int64(mag)
	} else {
		if mag > math.MaxInt64 {
			return 0, false
		}
		v = int64(mag)
	}
	return int32(v), true
}

// strtoull mirrors memcached's safe_strtoull: negative input is refused
// only when the wrapped result looks negative as a signed number.
func strtoull(s string) (uint64, bool) {
	neg, mag, overflow, ok := cNumber(s)
	if !ok || overflow {
		return 0, false
	}
	v := mag
	if neg {
		v = -mag
	}
	if int64(v) < 0 && strings.Contains(s, "-") {
		return 0, false
	}
	return v, true
}

// strtoul32 mirrors memcached's safe_strtoul into a 32-bit flags field.
func strtoul32(s string) (uint32, bool) {
	v, ok := strtoull(s)
	return uint32(v), ok
}
