package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Defaults of the flags.
const (
	// defaultTTL is long enough that one or two missed extends (made every
	// ttl/3) do not lose the lock, and short enough that a distlock killed
	// with SIGKILL does not block the key for long.
	defaultTTL = 30 * time.Second

	// defaultGrace is how long a child has to exit after SIGTERM when the
	// lock is lost, before SIGKILL.
	defaultGrace = 10 * time.Second
)

// config is what the command line asks for.
type config struct {
	url     string        // from -url or $LOCK_URL; never printed: it may hold a password
	ttl     time.Duration // > 0
	wait    time.Duration // >= 0; 0 makes one attempt
	forever bool          // -wait forever: no limit
	grace   time.Duration // >= 0
	quiet   bool
	key     string   // not empty
	argv    []string // COMMAND [ARGS...], not empty
}

// usageError is a mistake on the command line. Its message says what to
// fix, in one line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// parseArgs parses the arguments that follow the program's name. It
// returns flag.ErrHelp when help was asked for, and a *usageError for a
// mistake.
func parseArgs(args []string, getenv func(string) string) (*config, error) {
	if len(args) == 0 {
		return nil, usagef("no command: want distlock run [flags] KEY -- COMMAND [ARGS...] (distlock -h for help)")
	}
	switch args[0] {
	case "run":
	case "-h", "-help", "--help", "help":
		return nil, flag.ErrHelp
	default:
		return nil, usagef("unknown command %q: want distlock run [flags] KEY -- COMMAND [ARGS...] (distlock -h for help)", args[0])
	}

	c := &config{url: getenv("LOCK_URL"), ttl: defaultTTL, grace: defaultGrace}
	fs := c.flagSet()
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		if name := closestFlag(fs, err); name != "" {
			return nil, usagef("%v (did you mean -%s?)", err, name)
		}
		return nil, usagef("%v (distlock run -h for help)", err)
	}
	rest := fs.Args()
	key, argv, err := splitKey(rest, endsWithDashes(fs, args[1:len(args)-len(rest)]))
	if err != nil {
		return nil, err
	}
	c.key, c.argv = key, argv
	if c.url == "" {
		return nil, usagef("no lock store: give -url memcached://HOST:11211 (or redis://HOST:6379/0), or set LOCK_URL")
	}
	return c, nil
}

// wantForm is the form of the arguments of distlock run, with which the
// messages about them end.
const wantForm = "want distlock run [flags] KEY -- COMMAND [ARGS...]"

// splitKey returns KEY and COMMAND [ARGS...] from rest, the arguments that
// follow the flags, or a *usageError that names what is missing. dashed
// tells that the flags ended with a "--", which the flag package drops:
// then a KEY follows only if another "--" does (a KEY that starts with "-").
func splitKey(rest []string, dashed bool) (key string, argv []string, err error) {
	if dashed && (len(rest) < 2 || !slices.Contains(rest[1:], "--")) {
		if len(rest) == 0 {
			return "", nil, usagef("no KEY before -- and no COMMAND after it: %s", wantForm)
		}
		return "", nil, usagef("no KEY before --: %s", wantForm)
	}
	switch {
	case len(rest) == 0:
		return "", nil, usagef("no KEY, -- or COMMAND: %s", wantForm)
	case rest[0] == "":
		return "", nil, usagef("KEY is empty: %s", wantForm)
	case len(rest) == 1:
		return "", nil, usagef("no -- and no COMMAND after KEY %q: %s", rest[0], wantForm)
	case strings.HasPrefix(rest[1], "-") && rest[1] != "--":
		return "", nil, usagef("flag %s after KEY: flags go before KEY: distlock run [flags] KEY -- COMMAND [ARGS...]", rest[1])
	case rest[1] != "--" && slices.Contains(rest[2:], "--"):
		return "", nil, usagef("no -- right after KEY %q, but %q (quote a KEY that has spaces): %s", rest[0], rest[1], wantForm)
	case rest[1] != "--":
		return "", nil, usagef("no -- between KEY %q and COMMAND %q: %s", rest[0], rest[1], wantForm)
	case len(rest) == 2 || rest[2] == "":
		return "", nil, usagef("no COMMAND after --: %s", wantForm)
	}
	return rest[0], rest[2:], nil
}

// endsWithDashes reports whether parsed, the arguments that fs parsed as
// flags, ends with the "--" that ends the flags, rather than a flag's value
// that happens to be "--".
func endsWithDashes(fs *flag.FlagSet, parsed []string) bool {
	for i := 0; i < len(parsed); i++ {
		if parsed[i] == "--" {
			return true
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(parsed[i], "-"), "=")
		if !hasValue && !isBoolFlag(fs.Lookup(name)) {
			i++ // the flag's value is the next argument
		}
	}
	return false
}

// isBoolFlag reports whether f takes no value, as -q.
func isBoolFlag(f *flag.Flag) bool {
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// closestFlag returns the name of the flag of fs closest to the one that
// err, from fs.Parse, reports as not defined, or "" when err is another
// error or no flag is close: within two edits, and not all of the name
// changed.
func closestFlag(fs *flag.FlagSet, err error) string {
	typed, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return ""
	}
	best, bestDist := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(typed, f.Name); d < bestDist && d < max(len(typed), len(f.Name)) {
			best, bestDist = f.Name, d
		}
	})
	return best
}

// editDistance returns how many insertions, deletions and substitutions of
// a letter, and swaps of two adjacent letters, turn a into b (the optimal
// string alignment distance: Damerau-Levenshtein that edits no substring
// twice).
func editDistance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// d[i][j] is the distance from s[:i] to t[:j].
	d := make([][]int, len(s)+1)
	for i := range d {
		d[i] = make([]int, len(t)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(s); i++ {
		for j := 1; j <= len(t); j++ {
			sub := 1
			if s[i-1] == t[j-1] {
				sub = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+sub)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(s)][len(t)]
}

// flagSet returns the flags of distlock run, which set c. Their
// documentation is the usage text.
func (c *config) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("distlock run", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller reports errors in one line; -h prints usage
	fs.Usage = func() {}
	fs.StringVar(&c.url, "url", c.url, "")
	fs.Var(&durationFlag{d: &c.ttl, positive: true}, "ttl", "")
	fs.Var(&waitFlag{c: c}, "wait", "")
	fs.Var(&durationFlag{d: &c.grace}, "grace", "")
	fs.BoolVar(&c.quiet, "q", false, "")
	return fs
}

// durationFlag is a duration flag whose errors say what a duration looks
// like (the flag package only says "parse error").
type durationFlag struct {
	d        *time.Duration
	positive bool // zero is not allowed either
}

func (f *durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	if f.positive && d == 0 {
		return errors.New("want a positive duration, such as 30s")
	}
	*f.d = d
	return nil
}

// waitFlag is -wait: a duration, or "forever".
type waitFlag struct{ c *config }

func (f *waitFlag) String() string {
	switch {
	case f.c == nil:
		return ""
	case f.c.forever:
		return "forever"
	}
	return f.c.wait.String()
}

func (f *waitFlag) Set(s string) error {
	if s == "forever" {
		f.c.wait, f.c.forever = 0, true
		return nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return fmt.Errorf("%w, or forever", err)
	}
	f.c.wait, f.c.forever = d, false
	return nil
}

// parseDuration parses a duration that is not negative.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil && strings.Trim(s, "0123456789.") == "":
		return 0, errors.New("a duration needs a unit: 500ms, 30s, 5m, 1h")
	case err != nil:
		return 0, errors.New("want a duration such as 500ms, 30s, 5m or 1h30m")
	case d < 0:
		return 0, errors.New("want a duration that is not negative")
	}
	return d, nil
}
