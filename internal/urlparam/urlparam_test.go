package urlparam

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestQuery(t *testing.T) {
	v, _ := url.ParseQuery("a=250&b=1.5s&c=7&d=3&e=true&f=x&g=old&z=1&y=2")
	q := New(v)
	var (
		a, b, c time.Duration
		d       int
		e       bool
		f       string
	)
	q.Duration("a", &a)
	q.Duration("b", &b)
	q.Seconds("c", &c)
	q.Int("d", &d)
	q.Bool("e", &e)
	q.String("f", &f)
	q.Reject("g", "it is gone")
	q.Reject("h", "absent, so fine")
	if a != 250*time.Millisecond || b != 1500*time.Millisecond || c != 7*time.Second || d != 3 || !e || f != "x" {
		t.Errorf("got %v %v %v %v %v %q; want 250ms 1.5s 7s 3 true x", a, b, c, d, e, f)
	}
	if rest := q.Rest(); len(rest) != 2 || rest.Get("y") != "2" || rest.Get("z") != "1" {
		t.Errorf("Rest() = %v; want y and z", rest)
	}
	err := q.Err()
	if err == nil || !strings.Contains(err.Error(), "g is not supported: it is gone") || !strings.Contains(err.Error(), "unknown parameter(s): y, z") {
		t.Errorf("Err() = %v; want the rejected g and the unknown y, z", err)
	}
}

func TestQueryBadValues(t *testing.T) {
	for raw, want := range map[string]string{
		"t=-5":                   "negative",
		"t=-9223372036854775807": "negative",
		"t=-1s":                  "negative",
		"t=soon":                 "want milliseconds or a Go duration",
		"t=9223372036854775807":  "too large",
		"t=1&t=2":                "given 2 times",
		"n=-1":                   "non-negative integer",
		"n=x":                    "non-negative integer",
		"b=maybe":                "true or false",
	} {
		v, _ := url.ParseQuery(raw)
		q := New(v)
		var d time.Duration
		var n int
		var b bool
		q.Duration("t", &d)
		q.Int("n", &n)
		q.Bool("b", &b)
		if err := q.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Err() = %v; want one containing %q", raw, err, want)
		}
		if d != 0 || n != 0 || b {
			t.Errorf("%s: a bad value was stored: %v %v %v", raw, d, n, b)
		}
	}
}

func TestValuesMalformed(t *testing.T) {
	for raw, want := range map[string]string{
		"x://h?a=1;b=2":           "malformed query: a ';'",
		"x://h?a=100%":            "malformed query: a malformed %-escape in the value of a",
		"x://h?a=%zz":             "malformed query: a malformed %-escape in the value of a",
		"x://h?ok=1&pw=sekr%zzit": "malformed query: a malformed %-escape in the value of pw",
		"x://h?sekr%zzit=1":       "malformed query: a malformed %-escape in a parameter name",
		"x://h?a%20b=%zz":         `malformed query: a malformed %-escape in the value of "a b"`,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Values(u)
		if err == nil || err.Error() != want+" (write '%' as %25)" && err.Error() != want+" (separate parameters with '&'; in a value, write ';' as %3B)" {
			t.Errorf("Values(%s) = %v, %v; want an error %q (Query would drop the pair)", raw, v, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "zz") || strings.Contains(err.Error(), "sekr")) {
			t.Errorf("Values(%s) = %v; it shows the query's text", raw, err)
		}
	}
	u, _ := url.Parse("x://h?a=1&b=two%20words")
	if v, err := Values(u); err != nil || v.Get("a") != "1" || v.Get("b") != "two words" {
		t.Errorf("Values(%s) = %v, %v; want a=1, b=two words", u, v, err)
	}
}

func TestZero(t *testing.T) {
	q := New(url.Values{"d": {"0"}, "s": {"0s"}, "n": {"0"}, "r": {"0"}})
	var d, s time.Duration
	var n, r int
	q.Duration("d", &d)
	q.Seconds("s", &s)
	q.PositiveInt("n", &n)
	q.Int("r", &r)
	err := q.Err()
	for _, name := range []string{"d=", "s=", "n="} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Err() = %v; want it to name %s0 (zero has no use there)", err, name)
		}
	}
	if err != nil && strings.Contains(err.Error(), "r=") {
		t.Errorf("Err() = %v; Int accepts zero", err)
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "sentinel_Password": true, "PASS": true, "client_secret": true, "token": true,
		"credentials": true, "sentinel_auth": true, "apikey": true, "x_api_key": true,
		"prefix": false, "timeout": false, "max_key_size": false, "": false,
	} {
		if got := SecretName(name); got != want {
			t.Errorf("SecretName(%q) = %v; want %v", name, got, want)
		}
	}
}

// TestSecretValuesHidden checks that the errors about a parameter named
// like a secret do not show its value.
func TestSecretValuesHidden(t *testing.T) {
	q := New(url.Values{"auth": {"hunter2"}, "token_ttl": {"hunter2"}, "pass_count": {"hunter2"}, "n": {"x"}})
	var b bool
	var d time.Duration
	var n int
	q.Bool("auth", &b)
	q.Duration("token_ttl", &d)
	q.Int("pass_count", &n)
	q.Int("n", &n)
	err := q.Err()
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Err() = %v; want errors that do not show the values", err)
	}
	for _, want := range []string{"auth (value not shown): want true or false", "token_ttl (value not shown): want milliseconds", "pass_count (value not shown): want a non-negative", `n="x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %v; want it to contain %q", err, want)
		}
	}
}
