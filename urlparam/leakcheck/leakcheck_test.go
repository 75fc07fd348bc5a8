package leakcheck

import (
	"net/url"
	"strings"
	"testing"
)

func TestRotate(t *testing.T) {
	for in, want := range map[string]string{
		"abcdefghzABFGZ":  "defabcqrpDECQP",
		"0123456789":      "0123456789",
		"/?#@:%zz%41a%2f": "/?#@:%pp%41d%2f",
		"ä日\xff":          "å旤\xff",
		"%":               "%",
		"a%":              "d%",
		"%a":              "%d",
		"\x00 ~":          "\x00 ~",
	} {
		if got := Rotate(in); got != want {
			t.Errorf("Rotate(%q) = %q; want %q", in, got, want)
		}
	}
	// The structure url.Parse sees is kept.
	for _, pw := range []string{"a/b?c#d", "x@[fe80::1%25en0]:12/y", "a%2Fb%zz", "x@h%41st/"} {
		raw := "s://u:" + Prefix + pw + Suffix + "@h/0"
		_, err1 := url.Parse(raw)
		_, err2 := url.Parse("s://u:" + Rotate(Prefix+pw+Suffix) + "@h/0")
		if (err1 == nil) != (err2 == nil) {
			t.Errorf("url.Parse of %q and of its rotation disagree: %v, %v", raw, err1, err2)
		}
	}
}

func TestLeak(t *testing.T) {
	pw := Prefix + `a"b/c` + Suffix
	alt := Rotate(pw)
	for _, c := range []struct {
		msg, alt string
		leak     bool
	}{
		{"fixed text", "fixed text", false},
		{"fixed text", "", false},
		{`invalid port ":` + Prefix + `a\"b" after host`, "", true}, // the original bug
		{"path /c" + Suffix, "path /c" + Rotate(Suffix), true},      // the last piece
		{"port :b/cdef", "port :e/cdef", true},                      // an inner piece
		{"shows " + strings.ToLower(pw), "", true},                  // in any case
		{"shows " + url.QueryEscape(pw), "shows " + url.QueryEscape(alt), true},
	} {
		if got := Leak(c.msg, c.alt, pw) != ""; got != c.leak {
			t.Errorf("Leak(%q, %q) = %v; want %v", c.msg, c.alt, got, c.leak)
		}
	}
}
