package memcached

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/urlparam/leakcheck"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		url   string
		addrs []string
		opts  Options
	}{
		{"memcached://", []string{"localhost:11211"}, Options{}},
		{"memcached://cache", []string{"cache:11211"}, Options{}},
		{"memcached://h1:1,h2,127.0.0.1/", []string{"h1:1", "h2:11211", "127.0.0.1:11211"}, Options{}},
		{"memcached://[::1]:5,h", []string{"[::1]:5", "h:11211"}, Options{}},
		{"memcached://[::1]", []string{"[::1]:11211"}, Options{}},
		{"memcached://h?prefix=app:&timeout=250ms&pool_size=20&retries=5&retry_timeout=1.5s&max_key_size=100&max_expiration=1h",
			[]string{"h:11211"},
			Options{Prefix: "app:", Timeout: 250 * time.Millisecond, PoolSize: 20, Retries: 5, Options: lock.Options{RetryInterval: 1500 * time.Millisecond}, MaxKeySize: 100, MaxExpiration: time.Hour}},
		{"memcached://h?retry_interval=2s&max_ttl=1h&close_timeout=3s",
			[]string{"h:11211"},
			Options{Options: lock.Options{RetryInterval: 2 * time.Second, MaxTTL: time.Hour, CloseTimeout: 3 * time.Second}}},
		{"memcached://h?retries=0&max_expiration=2h", []string{"h:11211"}, Options{Retries: -1, MaxExpiration: 2 * time.Hour}},
		{"memcached://h?call_timeout=2s", []string{"h:11211"}, Options{CallTimeout: 2 * time.Second}},
		{"memcached://h?fence=true", []string{"h:11211"}, Options{Fence: true}},
		{"memcached://h?fence=false", []string{"h:11211"}, Options{}},
	} {
		u, err := lock.ParseURL(c.url)
		if err != nil {
			t.Fatal(err)
		}
		addrs, opts, err := parseURL(u)
		if err != nil {
			t.Errorf("parseURL(%q) error: %v", c.url, err)
			continue
		}
		if !reflect.DeepEqual(addrs, c.addrs) || !reflect.DeepEqual(*opts, c.opts) {
			t.Errorf("parseURL(%q) = %q, %+v; want %q, %+v", c.url, addrs, *opts, c.addrs, c.opts)
		}
	}
}

func TestParseURLTLS(t *testing.T) {
	u, _ := lock.ParseURL("memcached://h?tls=true")
	_, opts, err := parseURL(u)
	if err != nil || opts.TLS == nil {
		t.Fatalf("parseURL(tls=true) = %+v, %v; want a TLS config", opts, err)
	}
}

func TestParseURLErrors(t *testing.T) {
	for raw, want := range map[string]string{
		"memcached://h?bogus=1":                      "unknown parameter bogus (valid: call_timeout, close_timeout, fence, max_expiration, max_key_size, max_ttl, pool_size, prefix, retries, retry_interval, retry_timeout, timeout, tls)",
		"memcached://h?fence=yes":                    `parameter fence="yes": want true or false`,
		"memcached://h?timeout=soon":                 "timeout=soon is not a duration: write one with its unit, such as 500ms, 1.5s or 2m",
		"memcached://h?timeout=5":                    "timeout=5 has no unit: write 5ms or 0.005s",
		"memcached://h?max_expiration=3600":          "max_expiration=3600 has no unit: write 3600s or 3600000ms",
		"memcached://h?max_ttl=1h&max_expiration=1h": "max_ttl 1h0m0s is above 59m57s",
		"memcached://h?max_expiration=3s":            "max_expiration 3s is outside 4s..720h0m0s",
		"memcached://h?timeout=0":                    "timeout",
		"memcached://h?call_timeout=0":               "call_timeout",
		"memcached://h?retries=-1":                   "retries",
		"memcached://h?pool_size=2&pool_size=3":      "given 2 times",
		"memcached://h?max_key_size=251":             "max_key_size",
		"memcached://h?max_expiration=2592001s":      "max_expiration",
		"memcached://h?prefix=a%20b":                 "prefix",
		"memcached://h?prefix=":                      "prefix is empty",
		"memcached://h?tls=maybe":                    "tls",
		"memcached://h?host=x":                       "host is not supported: name servers in the URL",
		"memcached://h?discovery_key=x":              "discovery_key is not supported",
		"memcached://h?max_size=10":                  "max_size is not supported",
		"memcached://h?idle=5000":                    "idle is not supported",
		"memcached://h?failures=5":                   "failures is not supported",
		"memcached://user:secret@h":                  "no user or password: memcached's protocols have no authentication",
		"memcached://h/path":                         "memcached has no databases, so the URL has no path",
		"memcached://h?prefix=app;v2:":               "malformed query",
		"memcached://h?pool_size=0":                  `pool_size="0": want a positive`,
		"memcached://h?retry_timeout=0":              "retry_timeout=0 is zero: want a positive duration",
		"memcached://h?max_key_size=0":               `max_key_size="0": want a positive`,
		"memcached://h?max_expiration=0":             "max_expiration=0 is zero",
		"memcached://h1,,h2":                         "empty server name",
		"memcached://,":                              "empty server name",
		"memcached://h?prefix=100%:":                 "malformed query",
	} {
		u, err := lock.ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = parseURL(u)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseURL(%q) error = %v; want one containing %q", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("parseURL(%q) error = %v; it shows the password", raw, err)
		}
	}
}

// TestParseURLHidesSecretValues checks that no error shows a password given
// in the userinfo, which memcached has no use for, or in a parameter, even
// when it does not parse.
func TestParseURLHidesSecretValues(t *testing.T) {
	const secret = "pa55-w0rd-s3cret"
	for _, tc := range []struct {
		u    *url.URL
		want string
	}{
		{&url.URL{Scheme: "memcached", User: url.UserPassword("u", secret), Host: "h"}, "no user or password: memcached's protocols have no authentication"},
		{&url.URL{Scheme: "memcached", Host: "h", RawQuery: "password=" + secret}, "unknown parameter password (valid: "},
		{&url.URL{Scheme: "memcached", Host: "h", RawQuery: "password=" + secret + "%zz"}, "malformed %-escape in the value of password"},
		{&url.URL{Scheme: "memcached", Host: "h", RawQuery: "password=" + secret + ";x"}, "malformed query: a ';'"},
		{&url.URL{Scheme: "memcached", Host: "h", RawQuery: "prefix=" + secret + "%zz"}, "malformed %-escape in the value of prefix"},
	} {
		_, _, err := parseURL(tc.u)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseURL(%s) = %v; want an error containing %q", tc.u.Redacted(), err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "%zz") {
			t.Errorf("parseURL(%s) error shows the password: %v", tc.u.Redacted(), err)
		}
	}
}

// FuzzParseURLHidesPassword checks that parseURL's errors show no piece of a
// password, in the userinfo or in a parameter, with any other parameters;
// see leakcheck for the method.
func FuzzParseURLHidesPassword(f *testing.F) {
	for _, pw := range []string{"hunter2", `pa"ss`, "a/b?c#d@e", "a%zz", "%", "a;b", "a&b", "pä55 wörd", "a\x00b", "\xff"} {
		for form := range uint8(3) {
			f.Add(pw, form, "")
		}
	}
	for _, q := range []string{"bogus=1", "timeout=soon", "retries=-1", "pool_size=2&pool_size=3", "max_key_size=251",
		"prefix=", "tls=maybe", "host=x&idle=1", "x=%zz", "a;b", "max_expiration=0"} {
		f.Add("pw", uint8(1), q)
	}
	f.Fuzz(func(t *testing.T, fuzzed string, form uint8, query string) {
		password := leakcheck.Prefix + fuzzed + leakcheck.Suffix
		msg := parseURLError(form, password, query)
		if msg == "" {
			return
		}
		alt := parseURLError(form, leakcheck.Rotate(password), query)
		if leak := leakcheck.Leak(msg, alt, password); leak != "" {
			t.Errorf("parseURL with form %d, password %q, query %q: %q:\n%s", form%3, password, query, msg, leak)
		}
	})
}

// parseURLError returns the message of parseURL's error for a URL of form
// form with password in it, or "".
func parseURLError(form uint8, password, query string) string {
	u := &url.URL{Scheme: "memcached", Host: "127.0.0.1:1,h2", RawQuery: query}
	// In a query value, an unescaped '&', ';' or '#' would end the password.
	inQuery := strings.NewReplacer("&", "%26", ";", "%3B", "#", "%23").Replace(password)
	switch form % 3 {
	case 0:
		u.User = url.UserPassword("u", password)
	case 1:
		u.RawQuery = "password=" + inQuery + "&" + query
	default:
		u.RawQuery = query + "&auth_token=" + inQuery
	}
	if _, _, err := parseURL(u); err != nil {
		return err.Error()
	}
	return ""
}
