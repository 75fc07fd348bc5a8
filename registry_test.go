package lock_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/distlock/lock"
	"github.com/distlock/lock/driver"
	_ "github.com/distlock/lock/memory"
)

var errTestOpener = errors.New("test opener failed")

func init() {
	lock.Register("Test-Fail", func(ctx context.Context, u *url.URL) (lock.Lock, error) {
		return nil, errTestOpener
	})
	lock.Register("test-deadline", func(ctx context.Context, u *url.URL) (lock.Lock, error) {
		return nil, fmt.Errorf("dial %s: %w", u.Host, context.DeadlineExceeded)
	})
	lock.Register("test-port", func(ctx context.Context, u *url.URL) (lock.Lock, error) {
		return nil, errTestOpener
	})
	lock.RegisterPort("Test-Port", "4242")
}

// TestNoSchemeExample checks the example URL of Open's errors about a
// missing scheme: the scheme whose registered port is the one written, or
// else one that registered a port; the root knows no backend's port.
func TestNoSchemeExample(t *testing.T) {
	for raw, want := range map[string]string{
		"localhost:4242":                 "want a URL such as test-port://localhost:4242 ",
		"10.0.0.1:9999":                  "want a URL such as test-port://10.0.0.1:9999 ",
		"127.0.0.1:4242?password=secret": "want a URL such as test-port://127.0.0.1:4242 ",
	} {
		_, err := lock.Open(context.Background(), raw)
		if !errors.Is(err, lock.ErrInvalidURL) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) = %v; want ErrInvalidURL, %q, and no password", raw, err, want)
		}
	}
}

// TestDriver checks that lock.Driver gives the backend under a Lock made by
// lock.New, and nil for anything else.
func TestDriver(t *testing.T) {
	b := newMap()
	l := lock.New(b, nil)
	defer l.Close()
	if got := lock.Driver(l); got != driver.Backend(b) {
		t.Errorf("Driver(New(b)) = %v; want b", got)
	}
	if got := lock.Driver(nil); got != nil {
		t.Errorf("Driver(nil) = %v; want nil", got)
	}
}

func TestSchemes(t *testing.T) {
	got := lock.Schemes()
	if !slices.IsSorted(got) || !slices.Contains(got, "memory") || !slices.Contains(got, "test-fail") {
		t.Fatalf("Schemes() = %q; want a sorted list holding memory and test-fail", got)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	for _, c := range []struct {
		url  string
		want []string
	}{
		{"nosuch://h/x", []string{`unknown scheme "nosuch"`, "memory", "forgotten import?"}},
		{"nosuch://user:secret@h", []string{"user:xxxxx@h"}},
		{"//h/x", []string{"no scheme"}},
		{"test-fail://user:secret@h?password=hunter2&sentinel_password=p2&prefix=a", []string{"test opener failed", "user:xxxxx@h", "prefix=a"}},
		{"test-fail://h?auth=hunter2&x_api_key=p2", []string{"test opener failed", "auth=xxxxx"}},
		{"test-fail://app:hunter2/secret@h/0", []string{"percent-encode"}},
		{"test-fail://:hunter2?secret@h", []string{"percent-encode"}},
		{"test-fail://:hunter2#secret@h", []string{"percent-encode"}},
		{"test-fail://h/0?x=secret@h", []string{"open test-fail URL: failed", "neither the error nor the URL is shown", "percent-encode"}},
		{"redis://:hunter2/secret@h:99999999999", []string{"percent-encode"}},
		{"memory://x?bogus=1", []string{"unknown parameter bogus (valid: close_timeout, max_ttl, prefix, retry_interval, retry_timeout)"}},
		{"redis://user:secret@h:99999999999/%zz", []string{"invalid URL: a redis URL with a malformed %-escape"}},
		{"x://user:secret@h1,h2:bad", []string{"invalid URL: a x URL with an invalid port"}},
		{`redis://u:secret"#@127.0.0.1:6379/0`, []string{"invalid URL: a redis URL with an invalid port after the host", "%2F, %3F, %23 and %40"}},
		{"memcached://u:hunter2/secret@127.0.0.1:1", []string{"invalid URL: a memcached URL with an invalid port"}},
		{"redis://u:hunter2%zzsecret@h/0", []string{"a malformed %-escape"}},
		{"redis://u:hunter2 secret@h/0", []string{"a character not allowed in the user name or password"}},
		{"redis://u:secret@h\x01", []string{"a control character"}},
		{"redis://u:hunter2@[secret", []string{"an invalid IP address in brackets"}},
		{"redis://u:hunter2@[secret]", []string{"an invalid IP address in brackets"}},
		{"redis://u:hunter2@se cret", []string{"a character not allowed in the host"}},
		{"://u:secret@h", []string{"invalid URL: a URL with an empty scheme"}},
		{"1x://u:secret@h", []string{"invalid URL: a URL with an error: first path segment in URL cannot contain colon"}},
		{"nosuch://u:hunter2/secret@h", []string{"invalid URL: a nosuch URL"}},
		{"nosuch://u:12/secret@h", []string{`open nosuch URL: invalid URL: unknown scheme "nosuch"`, "not shown"}},
		{"//u:12/secret@h", []string{"invalid URL: no scheme", "not shown"}},
		{"redis:u:secret@h", []string{`unknown scheme "redis"`, "not shown"}},
		{"test-fail://h?password=hunter2;secret&prefix=a", []string{"password=xxxxx&prefix=a"}},
		{"test-fail://h?x=1;pass=hunter2;secret&prefix=a", []string{"x=1;pass=xxxxx&prefix=a"}},
		{"test-fail://h?pa%73s=hunter2%zz", []string{"pa%73s=xxxxx"}},
		{"test-fail://h?token=hunter2#secret", []string{"token=xxxxx#xxxxx"}},
		{"test-fail://h?token=x&prefix=a#frag", []string{"token=xxxxx&prefix=a#frag"}},
		{"memory://x?password=hunter2%zz", []string{"malformed %-escape in the value of password"}},
		{"memory://x?retry_timeout=secret", []string{"retry_timeout=secret is not a duration"}},
		{"memory://x?retry_timeout=5", []string{"retry_timeout=5 has no unit: write 5ms or 0.005s"}},
		{"127.0.0.1:11211", []string{`lock: open "127.0.0.1:11211": invalid URL: no scheme: want a URL such as `, "://127.0.0.1:11211 (registered: "}},
		{"localhost:6379", []string{"no scheme: want a URL such as ", "://localhost:6379"}},
		{"u:secret@localhost:6379", []string{"the URL is not shown"}},
		{"user:secret", []string{`lock: open user:xxxxx: invalid URL: unknown scheme "user"`}},
		{"memory:secret", []string{"lock: open memory:xxxxx: memory: want memory://"}},
		{"h:1secret", []string{"invalid URL"}},
		{"\tu:secret:1", []string{"invalid URL"}},
		{"127.0.0.1:11211?password=secret", []string{"invalid URL: no scheme (the URL is not shown: it may hold a password)"}},
		{"[::1]:11211@secret", []string{"invalid URL: no scheme (the URL is not shown: it may hold a password)"}},
		{"memroy://x", []string{`unknown scheme "memroy" (did you mean memory? registered:`}},
		{"memory:opaque", []string{"memory: want memory://[name][?parameters]"}},
	} {
		l, err := lock.Open(ctx, c.url)
		if err == nil {
			l.Close()
			t.Errorf("Open(%q) succeeded; want an error", c.url)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%q) error = %q; want it to contain %q", c.url, err, w)
			}
		}
		for _, secret := range []string{"secret", "hunter2", "p2"} {
			if strings.Contains(err.Error(), secret) && !strings.Contains(c.url, "retry_timeout=secret") {
				t.Errorf("Open(%q) error = %q; it shows a secret", c.url, err)
			}
		}
	}
	for _, raw := range []string{"127.0.0.1:11211", "nosuch://h", "memroy://x", "memory://x?bogus=1", "memory://x/path", "redis://u:hunter2/secret@h:99999999999", "//h"} {
		if _, err := lock.Open(ctx, raw); !errors.Is(err, lock.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v; want an error matching ErrInvalidURL", raw, err)
		}
	}
	if _, err := lock.Open(ctx, "test-fail://h"); errors.Is(err, lock.ErrInvalidURL) {
		t.Errorf("Open(test-fail://h) = %v; matches ErrInvalidURL, but its opener failed otherwise", err)
	}
	if _, err := lock.Open(ctx, "TEST-FAIL://h"); !errors.Is(err, errTestOpener) {
		t.Errorf("Open(TEST-FAIL://h) = %v; want the opener's error: schemes are case-insensitive", err)
	}
}

// TestOpenHiddenErrors checks that the errors whose text Open does not show
// still match with errors.Is and errors.As, and that they have no Unwrap,
// through which a program logging each error of a chain would print them.
func TestOpenHiddenErrors(t *testing.T) {
	ctx := t.Context()
	_, err := lock.Open(ctx, "test-fail://u:hunter2/secret@h")
	if err == nil || errors.Unwrap(err) != nil {
		t.Fatalf("Open = %v; want an error without Unwrap", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("Open = %v; want errors.As to find the *url.Error", err)
	}
	var pe url.EscapeError
	if _, err := lock.Open(ctx, "test-fail://u:hunter2%zz@h"); !errors.As(err, &pe) {
		t.Errorf("Open = %v; want errors.As to find the url.EscapeError", err)
	}

	_, err = lock.Open(ctx, "test-fail://u:12/secret@h/0")
	if !errors.Is(err, errTestOpener) || errors.Unwrap(err) != nil || strings.Contains(err.Error(), errTestOpener.Error()) {
		t.Errorf("Open = %v; want errors.Is to see the opener's error, which it does not show, and no Unwrap", err)
	}

	_, err = lock.Open(ctx, "test-deadline://u:12/secret@h/0")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "failed (context deadline exceeded)") || strings.Contains(err.Error(), "dial") {
		t.Errorf("Open = %v; want a deadline, shown as such, without the opener's text", err)
	}
}

// TestOpenAtInQuery checks that an '@' in a query value, which Open cannot
// tell from a piece of a password, opens when nothing fails.
func TestOpenAtInQuery(t *testing.T) {
	l, err := lock.Open(t.Context(), "fuzz-ok://h?prefix=team@app")
	if err != nil {
		t.Fatalf("Open(fuzz-ok://h?prefix=team@app) = %v; want a Lock", err)
	}
	l.Close()
}

func TestRegisterPanics(t *testing.T) {
	opener := func(context.Context, *url.URL) (lock.Lock, error) { return nil, nil }
	for name, f := range map[string]func(){
		"empty scheme":      func() { lock.Register("", opener) },
		"nil opener":        func() { lock.Register("test-nil", nil) },
		"duplicate":         func() { lock.Register("memory", opener) },
		"duplicate, case":   func() { lock.Register("TEST-fail", opener) },
		"port of no scheme": func() { lock.RegisterPort("test-unregistered", "1") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register with %s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestParseURLHostList(t *testing.T) {
	for raw, host := range map[string]string{
		"memcached://h1:11211,h2:11211,h3?x=1": "h1:11211,h2:11211,h3",
		"redis://u:p@h1:1,h2:2/0":              "h1:1,h2:2",
		"memcached://h":                        "h",
	} {
		u, err := lock.ParseURL(raw)
		if err != nil || u.Host != host {
			t.Errorf("ParseURL(%q) = %v, %v; want host %q", raw, u, err, host)
		}
	}
}
