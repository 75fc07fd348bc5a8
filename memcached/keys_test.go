package memcached

import (
	"strings"
	"testing"
	"time"
)

func checkNative(t *testing.T, m keyMapper, key string) string {
	t.Helper()
	n := m.native(key)
	if len(n) > m.max || !legal(n) || !strings.HasPrefix(n, m.prefix) {
		t.Fatalf("native(%q) = %q; want a legal key of at most %d bytes starting with %q", key, n, m.max, m.prefix)
	}
	return n
}

func TestNativeKey(t *testing.T) {
	m, err := newKeyMapper("lock:", 250)
	if err != nil {
		t.Fatal(err)
	}
	for key, verbatim := range map[string]bool{
		"a":                          true,
		"user/42:order":              true,
		strings.Repeat("k", 245):     true,
		strings.Repeat("k", 246):     false,
		"a b":                        false,
		"a\r\nset x 0 0 1\r\nx":      false,
		"\x7f":                       false,
		"ключ":                       true, // bytes >= 0x80 are legal in memcached keys
		"#" + strings.Repeat("k", 3): false,
	} {
		n := checkNative(t, m, key)
		if got := n == "lock:"+key; got != verbatim {
			t.Errorf("native(%q) = %q; verbatim = %v, want %v", key, n, got, verbatim)
		}
	}
	// A key that looks like a hashed key is hashed again, never sent as is.
	hashed := m.native("a b")[len("lock:"):]
	if n := m.native(hashed); n == m.native("a b") {
		t.Errorf("native(%q) = %q; collides with native(%q)", hashed, n, "a b")
	}
}

func TestNewKeyMapper(t *testing.T) {
	for _, c := range []struct {
		prefix string
		max    int
		ok     bool
	}{
		{"lock:", 250, true},
		{"", 250, true},
		{"my lock:", 250, false},
		{"lock\n", 250, false},
		{"lock:", 48, false},
		{"lock:", 49, true},
	} {
		if _, err := newKeyMapper(c.prefix, c.max); (err == nil) != c.ok {
			t.Errorf("newKeyMapper(%q, %d) error = %v; want ok = %v", c.prefix, c.max, err, c.ok)
		}
	}
}

// FuzzNativeKey checks that every key maps to a legal memcached key, and
// that two different keys never map to the same one.
func FuzzNativeKey(f *testing.F) {
	for _, s := range []string{"a", "a b", "#", "#abc", "\x00", "ключ", strings.Repeat("x", 300)} {
		f.Add(s, s+" ")
	}
	m, err := newKeyMapper("lock:", 250)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == "" || b == "" {
			return
		}
		na, nb := checkNative(t, m, a), checkNative(t, m, b)
		if a != b && na == nb {
			t.Fatalf("native(%q) = native(%q) = %q; want distinct keys", a, b, na)
		}
	})
}

func TestExpiration(t *testing.T) {
	for _, c := range []struct {
		ttl  string
		want int32
	}{
		{"1ns", 3}, {"1ms", 3}, {"999ms", 3}, {"1s", 3}, {"1.001s", 4}, {"2.5s", 5}, {"719h59m57s", 2591999},
	} {
		d, err := time.ParseDuration(c.ttl)
		if err != nil {
			t.Fatal(err)
		}
		if got := expiration(d); got != c.want {
			t.Errorf("expiration(%s) = %d; want %d", c.ttl, got, c.want)
		}
	}
}

// TestFenceKey: the key of a fence counter is a legal key within max
// bytes, equal to no lock key and to no other lock's counter: the keys
// below include lock keys that look like counters, in both of their forms.
func TestFenceKey(t *testing.T) {
	for _, max := range []int{250, 60} {
		m, err := newKeyMapper("lock:", max)
		if err != nil {
			t.Fatal(err)
		}
		keys := []string{
			"a", "f:a", "#f:a", ":a", "#:a", "a b",
			strings.Repeat("k", max-len("lock:")-3),
			strings.Repeat("k", max-len("lock:")-2),
			strings.Repeat("k", max-len("lock:")),
			strings.Repeat("k", max),
		}
		locks := make(map[string]string) // native key -> lock key
		for _, k := range keys {
			locks[checkNative(t, m, k)] = k
		}
		// Lock keys spelled as the counters of the keys above.
		for _, k := range keys {
			f := m.fence(m.native(k))
			k2 := f[len("lock:"):]
			locks[checkNative(t, m, k2)] = k2
		}
		counters := make(map[string]string)
		for native, k := range locks {
			f := m.fence(native)
			if len(f) > m.max || !legal(f) || !strings.HasPrefix(f, m.prefix) {
				t.Errorf("max %d: fence(native(%q)) = %q; want a legal key of at most %d bytes starting with the prefix", max, k, f, max)
			}
			if other, ok := locks[f]; ok {
				t.Errorf("max %d: the counter of %q is %q, the key of the lock %q", max, k, f, other)
			}
			if other, ok := counters[f]; ok {
				t.Errorf("max %d: %q and %q share the counter %q", max, k, other, f)
			}
			counters[f] = k
		}
	}
}
