package lock_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memory"
	"github.com/distlock/lock/urlparam/leakcheck"
)

func init() {
	// fuzz-echo fails with an error that shows everything of its URL an
	// Opener may show: all but the password and the values of parameters
	// named like secrets. Open must hide the rest when it may hold a
	// password.
	lock.Register("fuzz-echo", func(ctx context.Context, u *url.URL) (lock.Lock, error) {
		names := slices.Sorted(func(yield func(string) bool) {
			for name := range u.Query() {
				if !yield(name) {
					return
				}
			}
		})
		return nil, fmt.Errorf("echo: opaque %q user %q host %q path %q names %q fragment %q",
			u.Opaque, u.User.Username(), u.Host, u.Path, names, u.Fragment)
	})
	lock.Register("fuzz-ok", func(ctx context.Context, u *url.URL) (lock.Lock, error) {
		return memory.New(nil), nil
	})
}

// fuzzSchemes are the schemes FuzzOpenHidesPassword tries: a real backend,
// an Opener that echoes its URL, one that succeeds, an unknown scheme, and
// none.
var fuzzSchemes = []string{"memory", "fuzz-echo", "fuzz-ok", "nosuch", "", "MEMORY"}

// fuzzURL returns the URL of form form (modulo the number of forms) with
// password written into it unescaped, and suffix appended.
func fuzzURL(scheme string, form uint8, password, suffix string) string {
	if scheme != "" {
		scheme += ":"
	}
	// In a query value, an unescaped '&', ';' or '#' ends the value: what
	// follows is, by URL syntax, another parameter or the fragment, so those
	// three are escaped there; everything else is left as written.
	inQuery := strings.NewReplacer("&", "%26", ";", "%3B", "#", "%23").Replace(password)
	switch form % 11 {
	case 0:
		return scheme + "//user:" + password + "@127.0.0.1:1/0?x=y" + suffix
	case 1:
		return scheme + "//:" + password + "@127.0.0.1:1" + suffix
	case 2:
		return scheme + "//user:" + password + "@h1:1,h2:2/0?x=y" + suffix
	case 3:
		return scheme + "//127.0.0.1:1/0?x=y&password=" + inQuery + suffix
	case 4:
		return scheme + "//u:" + password + "@[::1]:1/0#f" + suffix
	case 5:
		return scheme + "//user:" + password + "@host" + suffix
	case 6:
		return scheme + "//h?Sentinel_Password=" + inQuery + "&prefix=p" + suffix
	// Without "//" (Open's hint for a host and port given alone):
	case 7:
		return "user:" + password + suffix
	case 8:
		return "h:" + password + suffix
	case 9:
		return "u:" + password + "@h:11211" + suffix
	default:
		return "[::1]:" + password + suffix
	}
}

// FuzzOpenHidesPassword checks that no error of lock.Open shows any piece of
// a password written, unescaped, into its URL: in the userinfo (where a
// '/', '?' or '#' in it ends the authority early and an '@' follows the
// host) or in a password= parameter. See leakcheck for how a piece is told
// from the fixed text of a message.
func FuzzOpenHidesPassword(f *testing.F) {
	for _, pw := range []string{
		"hunter2", `s3cr3tPW"`, `s3cr3tPW"#`, "a/b", "a?b", "a#b", "a@b", "a%zzb", "a%2Fb", "a%b",
		"a:b", "a b", "pä55wörd", "日本語", "a\x00b", "a\nb", "a\x7fb", `a\b`, "a'b", "a[b]", "[::1]",
		"a/b?c#d@e", "12/34", "u@h:1/0", "a=b&c=d", "a;b", "a+b", "%", "%%", "%41", "\xff\xfe", "",
		"a/b@c?d", "@", "/", "?", "#", ":", "a,b", "a@b/c@d", "x=y@z", "\u212a", "1234:5678",
	} {
		for form := range uint8(11) {
			f.Add(pw, uint8(form%6), form, "")
		}
	}
	f.Add("a/b", uint8(0), uint8(0), "@x")
	f.Add("a", uint8(2), uint8(3), "#frag")
	f.Add("a", uint8(0), uint8(3), "&retry_timeout=1s")
	f.Fuzz(func(t *testing.T, fuzzed string, scheme, form uint8, suffix string) {
		password := leakcheck.Prefix + fuzzed + leakcheck.Suffix
		s := fuzzSchemes[int(scheme)%len(fuzzSchemes)]
		raw := fuzzURL(s, form, password, suffix)
		msg := openError(t, raw)
		if msg == "" {
			return
		}
		alt := openError(t, fuzzURL(s, form, leakcheck.Rotate(password), suffix))
		if leak := leakcheck.Leak(msg, alt, password); leak != "" {
			t.Errorf("Open(%q) = %q:\n%s", raw, msg, leak)
		}
	})
}

// openError opens raw and returns the error's message, or "" (closing the
// Lock) when it opened.
func openError(t *testing.T, raw string) string {
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	l, err := lock.Open(ctx, raw)
	if err != nil {
		return err.Error()
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return ""
}
