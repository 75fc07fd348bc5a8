package lock

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// An Opener opens a Lock for a URL whose scheme it was registered under.
// Openers are called concurrently, must not modify u, and should report an
// unreachable store before returning (within ctx). [Open] adds the redacted
// URL to the errors an Opener returns, so they need not repeat it.
type Opener func(ctx context.Context, u *url.URL) (Lock, error)

var registry = struct {
	sync.RWMutex
	openers map[string]Opener
}{openers: make(map[string]Opener)}

// Register makes a backend available to [Open] under scheme, which is
// case-insensitive. Backend packages call it from init; a program selects
// backends by importing them, usually for side effects only:
//
//	import _ "github.com/distlock/lock/memcached"
//
// Register panics if scheme is empty or already registered, or if opener is
// nil.
func Register(scheme string, opener Opener) {
	if scheme == "" {
		panic("lock: Register with an empty scheme")
	}
	if opener == nil {
		panic("lock: Register of a nil opener for scheme " + scheme)
	}
	scheme = strings.ToLower(scheme)
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.openers[scheme]; dup {
		panic("lock: Register called twice for scheme " + scheme)
	}
	registry.openers[scheme] = opener
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	registry.RLock()
	defer registry.RUnlock()
	s := make([]string, 0, len(registry.openers))
	for scheme := range registry.openers {
		s = append(s, scheme)
	}
	slices.Sort(s)
	return s
}

// Open returns a Lock on the store that rawURL names, through the backend
// registered for its scheme. Each backend documents its URL form and
// parameters; unknown parameters are an error. The host part may list
// several servers separated by commas (memcached://h1:11211,h2:11211); the
// Opener then finds them, comma-separated, in u.Host. Passwords in rawURL
// never appear in the errors Open returns: the userinfo's is hidden, and so
// are the values of parameters named like secrets; when an '@' follows the
// host (a password with an unescaped '/', '?' or '#' does that), every part
// of the text before it is masked.
func Open(ctx context.Context, rawURL string) (Lock, error) {
	l, err := open(ctx, rawURL)
	if err != nil && atAfterHost(rawURL) {
		err = scrub(err, rawURL)
	}
	return l, err
}

func open(ctx context.Context, rawURL string) (Lock, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		// A *url.Error prints the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("lock: invalid URL: %w", err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("lock: open %s: URL has no scheme (registered: %s)", redact(u), registered())
	}
	registry.RLock()
	opener := registry.openers[strings.ToLower(u.Scheme)]
	registry.RUnlock()
	if opener == nil {
		return nil, fmt.Errorf("lock: open %s: unknown scheme %q (registered: %s; forgotten import?)",
			redact(u), u.Scheme, registered())
	}
	l, err := opener(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("lock: open %s: %w", redact(u), err)
	}
	return l, nil
}

// atAfterHost reports an '@' past the authority of raw. It may be a query
// value's (prefix=team@app), or a password with an unescaped '/', '?' or
// '#', which ends the authority early: url.Parse then sees no userinfo to
// hide, and the rest of the password lands where errors would print it.
func atAfterHost(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	i := strings.IndexAny(rest, "/?#")
	return i >= 0 && strings.Contains(rest[i:], "@")
}

// scrub rewrites err, from a URL with an '@' past its authority, so that no
// part of what may be a password shows: every run of four or more
// characters of the text before the last '@' is masked, and a hint says how
// to write such a password.
func scrub(err error, raw string) error {
	scheme, rest, _ := strings.Cut(raw, "://")
	suspect := rest[:strings.LastIndex(rest, "@")]
	msg := err.Error()
	for _, part := range strings.FieldsFunc(suspect, func(r rune) bool { return strings.ContainsRune("/?#:@&=", r) }) {
		if len(part) >= 4 {
			msg = strings.ReplaceAll(msg, part, "xxxxx")
		}
	}
	return &scrubbed{msg: fmt.Sprintf("%s (the %s URL has an '@' past its host: in a password, percent-encode '/', '?', '#' and '@' as %%2F, %%3F, %%23, %%40)", msg, scheme), err: err}
}

// scrubbed is an error whose message is masked; errors.Is and errors.As
// still see the original.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

func registered() string {
	if s := Schemes(); len(s) > 0 {
		return strings.Join(s, ", ")
	}
	return "none"
}

// ParseURL parses raw as Open does: as url.Parse, except that the host part
// may be a comma-separated list of servers (h1:11211,h2:11211), which
// url.Parse rejects; u.Host then holds the list. Backend authors use it to
// test their Openers. Its errors may contain raw, password included.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err == nil {
		return u, nil
	}
	_, rest, ok := strings.Cut(raw, "://")
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@") + 1
	hosts := authority[at:]
	if !ok || !strings.Contains(hosts, ",") {
		return nil, err
	}
	start := len(raw) - len(rest) + at
	u, err2 := url.Parse(raw[:start] + "placeholder" + raw[start+len(hosts):])
	if err2 != nil {
		return nil, err
	}
	for _, h := range strings.Split(hosts, ",") {
		if _, err := url.Parse("x://" + h); err != nil {
			return nil, err
		}
	}
	u.Host = hosts
	return u, nil
}

// redact returns u for an error message: the password hidden, as by
// (*url.URL).Redacted, and so are the values of query parameters whose
// names suggest a secret.
func redact(u *url.URL) string {
	q := u.Query()
	hidden := false
	for name := range q {
		n := strings.ToLower(name)
		for _, secret := range []string{"pass", "secret", "token", "credential", "auth", "apikey", "api_key"} {
			if strings.Contains(n, secret) {
				q[name] = []string{"xxxxx"}
				hidden = true
				break
			}
		}
	}
	if !hidden {
		return u.Redacted()
	}
	c := *u
	c.RawQuery = q.Encode()
	return c.Redacted()
}
