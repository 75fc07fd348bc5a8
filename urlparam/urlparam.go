// Package urlparam reads the query parameters of a backend's URL the way
// every backend of this module does, so that one query string carries from
// one backend to another: typed values, durations with their units (a bare
// "500" is an error that says how to write it), the parameters every
// backend shares (Query.Common: prefix, retry_interval, max_ttl,
// close_timeout), and one error for every bad or unknown parameter, which
// lists the valid ones and never shows a secret's value. A backend's
// Opener (see lock.Register) reads its parameters with a Query, then
// returns Err wrapped by Invalid, which makes it match lock.ErrInvalidURL.
package urlparam

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/secret"
)

// Query reads parameters from url.Values, remembering which were read. Bad
// values are kept, unread, and reported together by Err. The zero value is not
// usable; call New.
type Query struct {
	v     url.Values
	read  map[string]bool // the names read or rejected
	valid map[string]bool // the names read
	errs  []error
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

// param returns name, and its value when the name does not suggest a
// secret, for an error message: name="value" or name.
func param(name, value string) string {
	if secret.Name(name) {
		return name + " (value not shown)"
	}
	return fmt.Sprintf("%s=%q", name, value)
}

// New returns a Query over v. v is not modified.
func New(v url.Values) *Query {
	return &Query{v: v, read: make(map[string]bool), valid: make(map[string]bool)}
}

// get returns the single value of name, and whether it is present.
func (q *Query) get(name string) (string, bool) {
	q.read[name] = true
	q.valid[name] = true
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

// NonEmpty is String for the settings where an empty value has no use: it
// is an error that says so (a URL gets the default by leaving the
// parameter out).
func (q *Query) NonEmpty(name string, dst *string) {
	s, ok := q.get(name)
	switch {
	case !ok:
	case s == "":
		q.errs = append(q.errs, fmt.Errorf("parameter %s is empty: leave it out for the default", name))
	default:
		*dst = s
	}
}

// Strings sets *dst to every value of name, which may be repeated.
func (q *Query) Strings(name string, dst *[]string) {
	q.read[name] = true
	q.valid[name] = true
	*dst = q.v[name]
}

// Known declares name a valid parameter, listed by Err, without reading
// it: for one that is absent.
func (q *Query) Known(name string) { q.valid[name] = true }

// Has reports whether name is present.
func (q *Query) Has(name string) bool { return q.v.Has(name) }

// Duration sets *dst to the value of name, if present: a Go duration with
// its unit ("500ms", "1.5s", "1m"). A bare number is an error that says how
// to write it, reading it as milliseconds (the pip-services settings' unit).
// Zero and negative values are an error: no setting has a use for them,
// and zero would mean the default to Options, which a URL gets by leaving
// the parameter out.
func (q *Query) Duration(name string, dst *time.Duration) {
	q.duration(name, time.Millisecond, dst)
}

// DurationBareSeconds is Duration for the settings whose bare numbers
// meant seconds elsewhere (go-redis's, memcached's expirations): its error
// for a bare number reads it as seconds.
func (q *Query) DurationBareSeconds(name string, dst *time.Duration) {
	q.duration(name, time.Second, dst)
}

// DurationOrOff is DurationBareSeconds for the settings where a negative
// duration (-1s) means "none", as go-redis reads it: it is kept as given.
func (q *Query) DurationOrOff(name string, dst *time.Duration) {
	if s, ok := q.v[name]; ok && len(s) == 1 && strings.HasPrefix(s[0], "-") {
		if d, err := time.ParseDuration(s[0]); err == nil && d < 0 {
			q.get(name)
			*dst = d
			return
		}
	}
	q.duration(name, time.Second, dst)
}

func (q *Query) duration(name string, bare time.Duration, dst *time.Duration) {
	s, ok := q.get(name)
	if !ok {
		return
	}
	d, err := parseDuration(s, bare)
	if err != nil {
		if secret.Name(name) {
			q.errs = append(q.errs, fmt.Errorf("parameter %s: %w", param(name, s), err))
		} else {
			q.errs = append(q.errs, fmt.Errorf("parameter %s=%s %w", name, s, err))
		}
		return
	}
	*dst = d
}

// parseDuration parses s, which must carry a unit; bare is the unit a bare
// number is read in for the hint of the error.
func parseDuration(s string, bare time.Duration) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		switch {
		case f < 0:
			return 0, errors.New("is negative")
		case f == 0:
			return 0, errors.New("is zero: want a positive duration, or leave the parameter out for the default")
		case bare == time.Second:
			return 0, fmt.Errorf("has no unit: write %ss or %sms", s, strconv.FormatFloat(f*1000, 'f', -1, 64))
		default:
			return 0, fmt.Errorf("has no unit: write %sms or %ss", s, strconv.FormatFloat(f/1000, 'f', -1, 64))
		}
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, errors.New("is not a duration: write one with its unit, such as 500ms, 1.5s or 2m")
	case d < 0:
		return 0, errors.New("is negative")
	case d == 0:
		return 0, errors.New("is zero: want a positive duration, or leave the parameter out for the default")
	}
	return d, nil
}

// Common reads the parameters that every backend takes, with the same
// meaning everywhere: prefix into *prefix (a nil prefix leaves it unread,
// for a backend without one), and retry_interval (or retry_timeout, the
// pip-services MemcachedLock's name for it), max_ttl and close_timeout
// into o.
func (q *Query) Common(prefix *string, o *lock.Options) {
	if prefix != nil {
		q.NonEmpty("prefix", prefix)
	}
	if q.Has("retry_interval") && q.Has("retry_timeout") {
		q.errs = append(q.errs, errors.New("parameters retry_interval and retry_timeout are one setting: give one"))
	}
	q.Duration("retry_interval", &o.RetryInterval)
	q.Duration("retry_timeout", &o.RetryInterval)
	q.Duration("max_ttl", &o.MaxTTL)
	q.Duration("close_timeout", &o.CloseTimeout)
}

// Int sets *dst to the value of name, if present; negative values are an
// error.
func (q *Query) Int(name string, dst *int) { q.IntAtLeast(name, 0, dst) }

// PositiveInt is Int for the settings where zero has no use: zero is an
// error too (a URL gets the default by leaving the parameter out).
func (q *Query) PositiveInt(name string, dst *int) { q.IntAtLeast(name, 1, dst) }

// IntAtLeast is Int for the settings whose least value is least.
func (q *Query) IntAtLeast(name string, least int, dst *int) {
	q.IntIn(name, least, math.MaxInt, dst)
}

// IntIn is Int for the settings whose values run from least to most.
func (q *Query) IntIn(name string, least, most int, dst *int) {
	s, ok := q.get(name)
	if !ok {
		return
	}
	n, err := strconv.Atoi(s)
	if err == nil && least <= n && n <= most {
		*dst = n
		return
	}
	want := fmt.Sprintf("an integer of at least %d", least)
	switch {
	case most == least+1:
		want = fmt.Sprintf("%d or %d", least, most)
	case most != math.MaxInt:
		want = fmt.Sprintf("an integer from %d to %d", least, most)
	case least == 0:
		want = "a non-negative integer"
	case least == 1:
		want = "a positive integer, or leave the parameter out for the default"
	}
	shown := param(name, s)
	if err == nil && most != math.MaxInt && !secret.Name(name) {
		shown = name + "=" + s // a number out of a short range: plain
	}
	q.errs = append(q.errs, fmt.Errorf("parameter %s: want %s", shown, want))
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

// Err returns the errors met so far, together with one naming the unread
// (unknown) parameters and listing the valid ones, or nil.
func (q *Query) Err() error {
	errs := q.errs
	var unknown []string
	for k := range q.v {
		if !q.read[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		what := "unknown parameter "
		if len(unknown) > 1 {
			what = "unknown parameters "
		}
		valid := slices.Sorted(maps.Keys(q.valid))
		errs = append(errs, fmt.Errorf("%s%s (valid: %s)", what, strings.Join(unknown, ", "), strings.Join(valid, ", ")))
	}
	return errors.Join(errs...)
}

// Invalid returns err, a backend's error about its URL, matching
// lock.ErrInvalidURL too, with its message unchanged; nil for nil.
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return invalidError{err}
}

type invalidError struct{ error }

func (e invalidError) Unwrap() error        { return e.error }
func (e invalidError) Is(target error) bool { return target == lock.ErrInvalidURL }
