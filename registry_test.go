package lock_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/distlock/lock"
	_ "github.com/distlock/lock/memory"
)

var errTestOpener = errors.New("test opener failed")

func init() {
	lock.Register("Test-Fail", func(ctx context.Context, u *url.URL) (lock.Lock, error) {
		return nil, errTestOpener
	})
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
		{"test-fail://h/0?x=secret@h", []string{"test opener failed", "percent-encode"}},
		{"redis://:hunter2/secret@h:99999999999", []string{"percent-encode"}},
		{"memory://x?bogus=1", []string{"unknown parameter(s): bogus"}},
		{"redis://user:secret@h:99999999999/%zz", []string{"invalid URL"}},
		{"x://user:secret@h1,h2:bad", []string{"invalid URL"}},
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
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Open(%q) error = %q; it shows a secret", c.url, err)
			}
		}
	}
	if _, err := lock.Open(ctx, "TEST-FAIL://h"); !errors.Is(err, errTestOpener) {
		t.Errorf("Open(TEST-FAIL://h) = %v; want the opener's error: schemes are case-insensitive", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	opener := func(context.Context, *url.URL) (lock.Lock, error) { return nil, nil }
	for name, f := range map[string]func(){
		"empty scheme":    func() { lock.Register("", opener) },
		"nil opener":      func() { lock.Register("test-nil", nil) },
		"duplicate":       func() { lock.Register("memory", opener) },
		"duplicate, case": func() { lock.Register("TEST-fail", opener) },
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
