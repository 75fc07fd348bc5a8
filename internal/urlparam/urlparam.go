// Package urlparam reads the query parameters of a backend URL: typed
// values, the original toolkit's units (plain numbers are milliseconds), and
// an error for every parameter left unread.
package urlparam

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query reads parameters from url.Values, remembering which were read. Bad
// values are kept, unread, and reported together by Err. The zero value is not usable;
// call New.
type Query struct {
	v    url.Values
	read map[string]bool
	errs []error
}

// Values returns the query parameters of u, or an error when the query does
// not parse: (*url.URL).Query drops such pairs silently, and a dropped
// parameter (a prefix with a stray ';' or '%') would mean another
// configuration than the one written. The error names the parameter but
// shows none of the query's text: the value may be a password.
func Values(u *url.URL) (url.Values, error) {
	v, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// url.ParseQuery's errors quote the text ("%zz"), which may be a
		// piece of a password.
		return nil, errors.New("malformed query: " + queryProblem(u.RawQuery))
	}
	return v, nil
}

// queryProblem describes, without quoting it, the first pair of raw that
// url.ParseQuery refuses.
func queryProblem(raw string) string {
	for pair := range strings.SplitSeq(raw, "&") {
		if strings.Contains(pair, ";") {
			return "a ';' (separate parameters with '&'; in a value, write ';' as %3B)"
		}
		key, value, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(key)
		if err != nil {
			return "a malformed %-escape in a parameter name (write '%' as %25)"
		}
		if _, err := url.QueryUnescape(value); err != nil {
			return fmt.Sprintf("a malformed %%-escape in the value of %s (write '%%' as %%25)", quoteName(name))
		}
	}
	return "it does not parse (too many parameters?)"
}

// quoteName returns name for an error message: as it is when it is a plain
// word, quoted otherwise.
func quoteName(name string) string {
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' || r == '.') {
			return strconv.Quote(name)
		}
	}
	if name == "" {
		return `""`
	}
	return name
}

// secretWords are the parts of parameter names that suggest a secret.
var secretWords = []string{"pass", "secret", "token", "credential", "auth", "apikey", "api_key"}

// SecretName reports whether a parameter named name may hold a secret: its
// name contains, in any case, pass, secret, token, credential, auth, apikey
// or api_key. Errors show no value of such a parameter, and lock.Open
// masks its value in the URLs it prints.
func SecretName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// param returns name, and its value when the name does not suggest a
// secret, for an error message: name="value" or name.
func param(name, value string) string {
	if SecretName(name) {
		return name + " (value not shown)"
	}
	return fmt.Sprintf("%s=%q", name, value)
}

// New returns a Query over v. v is not modified.
func New(v url.Values) *Query {
	return &Query{v: v, read: make(map[string]bool)}
}

// get returns the single value of name, and whether it is present.
func (q *Query) get(name string) (string, bool) {
	q.read[name] = true
	vs, ok := q.v[name]
	if !ok {
		return "", false
	}
	if len(vs) != 1 {
		q.errs = append(q.errs, fmt.Errorf("parameter %s given %d times", name, len(vs)))
		return "", false
	}
	return vs[0], true
}

// String sets *dst to the value of name, if present.
func (q *Query) String(name string, dst *string) {
	if s, ok := q.get(name); ok {
		*dst = s
	}
}

// Has reports whether name is present.
func (q *Query) Has(name string) bool { return q.v.Has(name) }

// Duration sets *dst to the value of name, if present: a plain number is
// milliseconds, as in the original settings; a Go duration ("1.5s") is
// accepted too. Zero and negative values are an error: no setting has a
// use for a zero duration, and zero would mean the default to Options,
// which a URL gets by leaving the parameter out.
func (q *Query) Duration(name string, dst *time.Duration) {
	q.duration(name, time.Millisecond, dst)
}

// Seconds is Duration for the settings whose plain numbers are seconds.
func (q *Query) Seconds(name string, dst *time.Duration) {
	q.duration(name, time.Second, dst)
}

func (q *Query) duration(name string, unit time.Duration, dst *time.Duration) {
	s, ok := q.get(name)
	if !ok {
		return
	}
	d, err := parseDuration(s, unit)
	if err != nil {
		q.errs = append(q.errs, fmt.Errorf("parameter %s: %w", param(name, s), err))
		return
	}
	*dst = d
}

func parseDuration(s string, unit time.Duration) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, errors.New("negative")
		}
		if n > int64(time.Duration(1<<63-1)/unit) {
			return 0, errors.New("too large")
		}
		d = time.Duration(n) * unit
	} else if d, err = time.ParseDuration(s); err != nil {
		name := "milliseconds"
		if unit == time.Second {
			name = "seconds"
		}
		return 0, fmt.Errorf("want %s or a Go duration such as 1.5s", name)
	}
	if d < 0 {
		return 0, errors.New("negative")
	}
	if d == 0 {
		return 0, errors.New("want a positive duration, or leave the parameter out for the default")
	}
	return d, nil
}

// Int sets *dst to the value of name, if present; negative values are an
// error.
func (q *Query) Int(name string, dst *int) { q.integer(name, 0, dst) }

// PositiveInt is Int for the settings where zero has no use: zero is an
// error too (a URL gets the default by leaving the parameter out).
func (q *Query) PositiveInt(name string, dst *int) { q.integer(name, 1, dst) }

func (q *Query) integer(name string, least int, dst *int) {
	s, ok := q.get(name)
	if !ok {
		return
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		want := "a non-negative integer"
		if least > 0 {
			want = "a positive integer, or leave the parameter out for the default"
		}
		q.errs = append(q.errs, fmt.Errorf("parameter %s: want %s", param(name, s), want))
		return
	}
	*dst = n
}

// Bool sets *dst to the value of name, if present (strconv.ParseBool forms).
func (q *Query) Bool(name string, dst *bool) {
	s, ok := q.get(name)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		q.errs = append(q.errs, fmt.Errorf("parameter %s: want true or false", param(name, s)))
		return
	}
	*dst = b
}

// Reject reports name as an error, with why, when it is present: for
// settings known from elsewhere that have no meaning here.
func (q *Query) Reject(name, why string) {
	q.read[name] = true
	if q.v.Has(name) {
		q.errs = append(q.errs, fmt.Errorf("parameter %s is not supported: %s", name, why))
	}
}

// Rest returns the parameters not read so far.
func (q *Query) Rest() url.Values {
	rest := url.Values{}
	for k, vs := range q.v {
		if !q.read[k] {
			rest[k] = vs
		}
	}
	return rest
}

// Err returns the errors met so far, together with one naming the unread
// (unknown) parameters, or nil.
func (q *Query) Err() error {
	errs := q.errs
	if rest := q.Rest(); len(rest) > 0 {
		names := make([]string, 0, len(rest))
		for k := range rest {
			names = append(names, k)
		}
		slices.Sort(names)
		errs = append(errs, fmt.Errorf("unknown parameter(s): %s", strings.Join(names, ", ")))
	}
	return errors.Join(errs...)
}
