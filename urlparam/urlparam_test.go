package urlparam

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/distlock/lock"
)

func TestQuery(t *testing.T) {
	v, _ := url.ParseQuery("a=250ms&b=1.5s&c=7s&d=3&e=true&f=x&g=old&z=1&y=2")
	q := New(v)
	var (
		a, b, c time.Duration
		d       int
		e       bool
		f       string
	)
	q.Duration("a", &a)
	q.Duration("b", &b)
	q.DurationBareSeconds("c", &c)
	q.Int("d", &d)
	q.Bool("e", &e)
	q.String("f", &f)
	q.Reject("g", "it is gone")
	q.Reject("h", "absent, so fine")
	if a != 250*time.Millisecond || b != 1500*time.Millisecond || c != 7*time.Second || d != 3 || !e || f != "x" {
		t.Errorf("got %v %v %v %v %v %q; want 250ms 1.5s 7s 3 true x", a, b, c, d, e, f)
	}
	err := q.Err()
	if err == nil || !strings.Contains(err.Error(), "g is not supported: it is gone") || !strings.Contains(err.Error(), "unknown parameters y, z (valid: a, b, c, d, e, f)") {
		t.Errorf("Err() = %v; want the rejected g, and the unknown y, z with the valid names", err)
	}
}

func TestQueryBadValues(t *testing.T) {
	for raw, want := range map[string]string{
		"t=-5":                   "t=-5 is negative",
		"t=-9223372036854775807": "is negative",
		"t=-1s":                  "t=-1s is negative",
		"t=soon":                 "t=soon is not a duration: write one with its unit, such as 500ms",
		"t=9223372036854775807":  "has no unit",
		"t=500":                  "t=500 has no unit: write 500ms or 0.5s",
		"t=1.5":                  "t=1.5 has no unit: write 1.5ms or 0.0015s",
		"t=3000h":                "",
		"t=9999999h":             "is not a duration",
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
		if want == "" {
			if err := q.Err(); err != nil {
				t.Errorf("%s: Err() = %v; want nil", raw, err)
			}
			continue
		}
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
	q.DurationBareSeconds("s", &s)
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
	for _, want := range []string{"auth (value not shown): want true or false", "token_ttl (value not shown): is not a duration", "pass_count (value not shown): want a non-negative", `n="x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Err() = %v; want it to contain %q", err, want)
		}
	}
}

func TestBareSecondsHint(t *testing.T) {
	q := New(url.Values{"read_timeout": {"2"}})
	var d time.Duration
	q.DurationBareSeconds("read_timeout", &d)
	if err := q.Err(); err == nil || err.Error() != "parameter read_timeout=2 has no unit: write 2s or 2000ms" {
		t.Errorf("Err() = %v; want the hint in seconds", err)
	}
}

func TestCommon(t *testing.T) {
	q := New(url.Values{"prefix": {"app:"}, "retry_timeout": {"250ms"}, "max_ttl": {"1h"}, "close_timeout": {"3s"}})
	var prefix string
	var o lock.Options
	q.Common(&prefix, &o)
	if err := q.Err(); err != nil || prefix != "app:" || o.RetryInterval != 250*time.Millisecond || o.MaxTTL != time.Hour || o.CloseTimeout != 3*time.Second {
		t.Errorf("Common = %q %+v, %v; want app: 250ms 1h 3s", prefix, o, err)
	}
	for raw, want := range map[string]string{
		"retry_interval=1s&retry_timeout=1s": "retry_interval and retry_timeout are one setting: give one",
		"prefix=":                            "parameter prefix is empty: leave it out for the default",
		"prefix=a&x=1":                       "unknown parameter x (valid: close_timeout, max_ttl, prefix, retry_interval, retry_timeout)",
	} {
		v, _ := url.ParseQuery(raw)
		q := New(v)
		q.Common(&prefix, &o)
		if err := q.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Err() = %v; want one containing %q", raw, err, want)
		}
	}
}
