package lock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/distlock/lock/internal/secret"
)

// An Opener opens a Lock for a URL of the scheme it was registered under.
// It is called concurrently, must not modify u, should fail on a store it
// cannot reach, and wraps [ErrInvalidURL] in its errors about u, which must
// not show u's password (Open adds the redacted URL to them, and masks the
// password of u's userinfo should an error echo it, as a driver's might).
type Opener func(ctx context.Context, u *url.URL) (Lock, error)

var registry = struct {
	sync.RWMutex
	openers map[string]Opener
	ports   map[string]string // scheme's default port, if registered
}{openers: make(map[string]Opener), ports: make(map[string]string)}

// Register makes a backend available to [Open] under scheme (any case).
// Backend packages call it from init, so programs select them by import.
// It panics if scheme is empty or taken, or opener is nil.
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

// RegisterPort records the port that servers of scheme, a registered
// scheme, listen on by default, such as "11211". Open's error for a host
// and port written without a scheme (localhost:6379) then names the scheme
// whose port it is, and its other errors about a missing scheme show an
// example with a scheme and port that are registered. It panics if scheme
// is not registered.
func RegisterPort(scheme, port string) {
	scheme = strings.ToLower(scheme)
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.openers[scheme]; !ok {
		panic("lock: RegisterPort for the unregistered scheme " + scheme)
	}
	registry.ports[scheme] = port
}

// example returns a URL of a registered scheme for host, with the port
// that scheme registered: the scheme whose port is port, if any, or else
// the first, in sorted order, with a port; "SCHEME://" when none has one.
func example(host, port string) string {
	registry.RLock()
	defer registry.RUnlock()
	var first string
	for _, scheme := range slices.Sorted(maps.Keys(registry.ports)) {
		if registry.ports[scheme] == port {
			return scheme + "://" + net.JoinHostPort(host, port)
		}
		if first == "" {
			first = scheme
		}
	}
	switch {
	case first == "":
		return "SCHEME://" + net.JoinHostPort(host, cmp.Or(port, "PORT"))
	case port != "":
		return first + "://" + net.JoinHostPort(host, port)
	}
	return first + "://" + net.JoinHostPort(host, registry.ports[first])
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
// registered for its scheme, which documents its URL form and parameters.
// Open fails on an unknown parameter, on a store it cannot reach before ctx
// is done, and with an error matching [ErrInvalidURL] on a URL it cannot
// use. Its errors never show a password.
func Open(ctx context.Context, rawURL string) (Lock, error) {
	// Errors show the URL with the userinfo's password and the values of
	// parameters named like secrets masked. Of a URL that does not parse,
	// or that has an '@' past its host, as a password with an unescaped
	// '/', '?' or '#' makes, they show only the scheme and what is wrong,
	// and hide the backend's error from the text, not from errors.Is and
	// errors.As.
	u, opener, err := resolve(rawURL)
	if err != nil {
		return nil, err
	}
	if strayAt(rawURL) {
		return openWithheld(ctx, u, opener)
	}
	l, err := opener(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("lock: open %s: %w", redact(u), maskPassword(err, u))
	}
	return l, nil
}

// CheckScheme returns the error [Open] returns for rawURL before it calls a
// backend: when rawURL does not parse, or has no scheme or one that no
// backend registered; nil when a backend would be asked to open it. A
// program checks its URL with it before work that a bad URL would waste.
// Its errors, as Open's, match [ErrInvalidURL], say what to write (the
// registered schemes, a near miss) and never show a password.
func CheckScheme(rawURL string) error {
	_, _, err := resolve(rawURL)
	return err
}

// resolve parses rawURL and returns it with the Opener of its scheme, or
// Open's error.
func resolve(rawURL string) (*url.URL, Opener, error) {
	if err := noScheme(rawURL); err != nil {
		return nil, nil, err
	}
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, nil, invalidURL(rawURL, err)
	}
	if opener := lookup(u.Scheme); opener != nil {
		return u, opener, nil
	}
	withheld := strayAt(rawURL) // see openWithheld
	switch {
	case withheld && u.Scheme == "":
		return nil, nil, fmt.Errorf("lock: open URL: %w: no scheme (registered: %s); the URL is not shown%s)", ErrInvalidURL, registered(), withheldWhy)
	case withheld:
		return nil, nil, fmt.Errorf("lock: open %s URL: %w: unknown scheme %q (%sregistered: %s; forgotten import?); the URL is not shown%s)",
			u.Scheme, ErrInvalidURL, u.Scheme, didYouMean(u.Scheme), registered(), withheldWhy)
	case u.Scheme == "":
		return nil, nil, fmt.Errorf("lock: open %s: %w: no scheme (registered: %s)", redact(u), ErrInvalidURL, registered())
	}
	return nil, nil, fmt.Errorf("lock: open %s: %w: unknown scheme %q (%sregistered: %s; forgotten import?)",
		redact(u), ErrInvalidURL, u.Scheme, didYouMean(u.Scheme), registered())
}

// maskPassword returns err, an Opener's error, with the password of u's
// userinfo masked in its text, should the error echo it (as written,
// quoted or escaped: see secret.Mask), or err itself when it does not.
// errors.Is and errors.As still see err.
func maskPassword(err error, u *url.URL) error {
	password, _ := u.User.Password()
	msg := err.Error()
	if masked := secret.Mask(msg, password); masked != msg {
		return &hiddenError{msg: masked, err: err}
	}
	return err
}

// noScheme returns Open's error for a raw URL with no "://" whose text
// before a ':' is no registered scheme: a host and port given alone
// (127.0.0.1:11211, localhost:11211), which url.Parse refuses or reads as
// a scheme. The error shows the text only when it is a host name or IP
// address and a port, nothing else (so no password), with the scheme the
// port suggests.
func noScheme(raw string) error {
	if strings.Contains(raw, "://") {
		return nil
	}
	if scheme, rest := cutScheme(raw); scheme != "" && (lookup(scheme) != nil || !allDigits(rest)) {
		return nil // memory:x, redis:x and the like: said below
	}
	if !hostAndPort(raw) {
		return fmt.Errorf("lock: open: %w: no scheme (the URL is not shown: it may hold a password): want a URL such as %s (registered: %s)", ErrInvalidURL, example("127.0.0.1", ""), registered())
	}
	host, port, _ := net.SplitHostPort(raw)
	return fmt.Errorf("lock: open %q: %w: no scheme: want a URL such as %s (registered: %s)", raw, ErrInvalidURL, example(host, port), registered())
}

// hostAndPort reports whether raw is a host name or IP address and a port,
// and nothing else: text that holds no password, and is safe to show.
func hostAndPort(raw string) bool {
	host, port, err := net.SplitHostPort(raw)
	if err != nil || host == "" || !allDigits(port) {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':') {
			return false
		}
	}
	return true
}

// allDigits reports whether s is a port number, as in localhost:11211.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// didYouMean returns "did you mean x? " when a registered scheme x is a
// near miss of scheme (one or two letters off, as memcache for memcached),
// or "".
func didYouMean(scheme string) string {
	scheme = strings.ToLower(scheme)
	for _, s := range Schemes() {
		if editDistance(scheme, s) <= 2 {
			return "did you mean " + s + "? "
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func lookup(scheme string) Opener {
	registry.RLock()
	defer registry.RUnlock()
	return registry.openers[strings.ToLower(scheme)]
}

// encodeHint says how to write a password that would otherwise end the
// URL's authority, or fail to parse.
const encodeHint = "in a password, percent-encode '/', '?', '#' and '@' as %2F, %3F, %23 and %40"

// withheldWhy ends the errors about a URL with an '@' past its authority,
// which show no text of it.
const withheldWhy = ": an '@' past its host may be part of a password (" + encodeHint

// openWithheld opens u, parsed from a URL with an '@' past its authority,
// with opener, its scheme's. That '@' may be a query value's
// (prefix=team@app), or end a password with an unescaped '/', '?' or '#',
// which ended the authority early: url.Parse then saw no userinfo to hide,
// and pieces of the password are now in u.Host, u.Path, u.RawQuery or
// u.Fragment, where an error could print them, in any form (quoted,
// escaped, cut). So no text of the URL is shown: only its scheme, which
// precedes the authority, and fixed words; the Opener's error is kept for
// errors.Is and errors.As.
func openWithheld(ctx context.Context, u *url.URL, opener Opener) (Lock, error) {
	l, err := opener(ctx, u)
	if err != nil {
		failed := "failed"
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			failed += " (" + context.DeadlineExceeded.Error() + ")"
		case errors.Is(err, context.Canceled):
			failed += " (" + context.Canceled.Error() + ")"
		}
		return nil, &hiddenError{
			msg: "lock: open " + u.Scheme + " URL: " + failed + "; neither the error nor the URL is shown" + withheldWhy +
				"; in a parameter value, '@' as %40, to see them)",
			err: err,
		}
	}
	return l, nil
}

// strayAt reports whether raw has an '@' outside the authority that
// url.Parse finds in it (every '@' of a URL without one).
func strayAt(raw string) bool {
	if !strings.Contains(raw, "@") {
		return false
	}
	scheme, rest := cutScheme(raw)
	if !strings.HasPrefix(rest, "//") || (scheme == "" && strings.HasPrefix(rest, "///")) {
		return true
	}
	rest = rest[2:]
	i := strings.IndexAny(rest, "/?#")
	return i >= 0 && strings.Contains(rest[i:], "@")
}

// cutScheme splits raw as url.Parse does into a scheme, which is "" unless
// it is a valid one ([a-zA-Z][a-zA-Z0-9+.-]*) followed by ':', and the rest
// after that ':'.
func cutScheme(raw string) (scheme, rest string) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.':
			if i == 0 {
				return "", raw
			}
		case c == ':' && i > 0:
			return raw[:i], raw[i+1:]
		default:
			return "", raw
		}
	}
	return "", raw
}

// invalidURL returns Open's error for a URL that does not parse: net/url's
// errors quote the URL, or the piece that failed, which may be a password
// (%q turns a '"' into \", so no search for the password in the text
// finds every form), so the error is described in fixed words, with the
// scheme alone from the URL.
func invalidURL(raw string, err error) error {
	what := "a URL"
	if scheme, _ := cutScheme(raw); scheme != "" {
		what = "a " + strings.ToLower(scheme) + " URL"
	}
	return &hiddenError{
		msg: fmt.Sprintf("lock: invalid URL: %s with %s; the URL is not shown: it may hold a password (%s)",
			what, describeParseError(err), encodeHint),
		err:     err,
		invalid: true,
	}
}

// describeParseError names what url.Parse refused, without its text.
func describeParseError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var escape url.EscapeError
	var host url.InvalidHostError
	switch msg := err.Error(); {
	case errors.As(err, &escape):
		return "a malformed %-escape"
	case errors.As(err, &host):
		return "a character not allowed in the host"
	case strings.HasPrefix(msg, "invalid port "):
		return "an invalid port after the host (a password with an unescaped '/', '?' or '#' makes one)"
	case strings.HasPrefix(msg, "invalid host: "), msg == "invalid IP-literal", msg == "missing ']' in host":
		return "an invalid IP address in brackets"
	case msg == "net/url: invalid userinfo":
		return "a character not allowed in the user name or password (percent-encode it)"
	case msg == "net/url: invalid control character in URL":
		return "a control character"
	case msg == "missing protocol scheme":
		return "an empty scheme before its ':'"
	case msg == "empty url":
		return "no text"
	case msg == "first path segment in URL cannot contain colon",
		msg == "number of URL query parameters exceeded limit":
		return "an error: " + msg
	}
	return "an error (details not shown)"
}

// hiddenError is an error whose message shows none of err's text, which
// may hold a password, or shows it with the password masked. errors.Is and errors.As see err, through the methods
// below; it has no Unwrap method, so that a program that logs each error
// of a chain (as some error reporters do) does not print err.
type hiddenError struct {
	msg     string
	err     error
	invalid bool // matches ErrInvalidURL
}

func (e *hiddenError) Error() string { return e.msg }
func (e *hiddenError) Is(target error) bool {
	return (e.invalid && target == ErrInvalidURL) || errors.Is(e.err, target)
}
func (e *hiddenError) As(target any) bool { return errors.As(e.err, target) }

func registered() string {
	if s := Schemes(); len(s) > 0 {
		return strings.Join(s, ", ")
	}
	return "none"
}

// ParseURL parses raw as Open does: as url.Parse, with a comma-separated
// list of servers allowed in u.Host (h1:11211,h2:11211). Its errors may
// show raw, password included.
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
// names suggest a secret (secret.Name). The query is masked as
// written, pair by pair, so that a pair url.ParseQuery drops (a ';' or a
// malformed %-escape in it) is masked too; a fragment right after such a
// value is masked with it, since an unescaped '#' ends the value early.
func redact(u *url.URL) string {
	c := *u
	if c.Opaque != "" {
		// scheme:text, with no "//": the text may be anything the user
		// meant as a URL, "user:password" among them.
		c.Opaque, c.RawQuery, c.Fragment, c.RawFragment = "xxxxx", "", "", ""
		return c.String()
	}
	masked, last := maskQuery(u.RawQuery)
	c.RawQuery = masked
	if last && (c.Fragment != "" || c.RawFragment != "") {
		c.Fragment, c.RawFragment = "xxxxx", ""
	}
	r := c.Redacted()
	if c.Scheme != "" && c.Opaque == "" && c.Host == "" && c.Path == "" && c.User == nil {
		// memcached:// prints as memcached: otherwise.
		r = c.Scheme + "://" + strings.TrimPrefix(r, c.Scheme+":")
	}
	return r
}

// maskQuery returns raw, a query, with the values of the parameters whose
// names suggest a secret replaced by xxxxx, and whether its last pair was
// such a one. Pairs are split at '&' as url.ParseQuery does; within a pair,
// the value is masked from the first ';'-separated part whose name suggests
// a secret to the end of the pair.
func maskQuery(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	pairs := strings.Split(raw, "&")
	last := false
	for i, pair := range pairs {
		last = false
		at := 0
		for part := range strings.SplitSeq(pair, ";") {
			name, _, hasValue := strings.Cut(part, "=")
			if secretParam(name) {
				if hasValue {
					pairs[i] = pair[:at+len(name)] + "=xxxxx"
				} else {
					pairs[i] = pair[:at+len(name)]
				}
				last = true
				break
			}
			at += len(part) + 1
		}
	}
	return strings.Join(pairs, "&"), last
}

// secretParam reports whether the raw (escaped) parameter name names a
// secret.
func secretParam(raw string) bool {
	if secret.Name(raw) {
		return true
	}
	name, err := url.QueryUnescape(raw)
	return err == nil && secret.Name(name)
}
