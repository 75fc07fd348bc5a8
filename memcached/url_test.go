package memcached

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/distlock/lock"
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
		{"memcached://h?prefix=app:&timeout=250&pool_size=20&retries=5&retry_timeout=1.5s&max_key_size=100&max_expiration=3600",
			[]string{"h:11211"},
			Options{Prefix: "app:", Timeout: 250 * time.Millisecond, PoolSize: 20, Retries: 5, RetryInterval: 1500 * time.Millisecond, MaxKeySize: 100, MaxExpiration: time.Hour}},
		{"memcached://h?retries=0&max_expiration=2h", []string{"h:11211"}, Options{Retries: -1, MaxExpiration: 2 * time.Hour}},
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
		"memcached://h?bogus=1":                 "unknown parameter(s): bogus",
		"memcached://h?timeout=soon":            "timeout",
		"memcached://h?timeout=0":               "timeout",
		"memcached://h?retries=-1":              "retries",
		"memcached://h?pool_size=2&pool_size=3": "given 2 times",
		"memcached://h?max_key_size=251":        "max_key_size",
		"memcached://h?max_expiration=2592001":  "max_expiration",
		"memcached://h?prefix=a%20b":            "prefix",
		"memcached://h?prefix=":                 "prefix is empty",
		"memcached://h?tls=maybe":               "tls",
		"memcached://h?host=x":                  "host is not supported: name servers in the URL",
		"memcached://h?discovery_key=x":         "discovery_key is not supported",
		"memcached://h?max_size=10":             "max_size is not supported",
		"memcached://h?idle=5000":               "idle is not supported",
		"memcached://h?failures=5":              "failures is not supported",
		"memcached://user:secret@h":             "want memcached://host",
		"memcached://h/path":                    "want memcached://host",
		"memcached://h?prefix=app;v2:":          "malformed query",
		"memcached://h?pool_size=0":             `pool_size="0": want a positive`,
		"memcached://h?retry_timeout=0":         `retry_timeout="0": want a positive`,
		"memcached://h?max_key_size=0":          `max_key_size="0": want a positive`,
		"memcached://h?max_expiration=0":        `max_expiration="0": want a positive`,
		"memcached://h1,,h2":                    "empty server name",
		"memcached://,":                         "empty server name",
		"memcached://h?prefix=100%:":            "malformed query",
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
