package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distlock/lock"
)

func TestParseArgs(t *testing.T) {
	env := func(url string) func(string) string {
		return func(name string) string {
			if name == "LOCK_URL" {
				return url
			}
			return ""
		}
	}
	for _, tc := range []struct {
		args []string
		env  string
		want config
	}{
		{
			args: []string{"run", "-url", "memcached://h", "k", "--", "cmd"},
			want: config{url: "memcached://h", ttl: defaultTTL, grace: defaultGrace, key: "k", argv: []string{"cmd"}},
		},
		{
			args: []string{"run", "k", "--", "sh", "-c", "echo -- -x", "--", "-y"},
			env:  "redis://h/0",
			want: config{url: "redis://h/0", ttl: defaultTTL, grace: defaultGrace, key: "k", argv: []string{"sh", "-c", "echo -- -x", "--", "-y"}},
		},
		{
			args: []string{"run", "-url", "memcached://flag", "-ttl", "1m", "-wait", "forever", "-grace", "0", "-q", "a key", "--", "cmd"},
			env:  "memcached://env",
			want: config{url: "memcached://flag", ttl: time.Minute, forever: true, quiet: true, key: "a key", argv: []string{"cmd"}},
		},
		{
			// A KEY that starts with "-" follows a "--" that ends the flags.
			args: []string{"run", "-q", "--", "-k", "--", "cmd"},
			env:  "memcached://env",
			want: config{url: "memcached://env", ttl: defaultTTL, grace: defaultGrace, quiet: true, key: "-k", argv: []string{"cmd"}},
		},
		{
			// "--" as a flag's value does not end the flags.
			args: []string{"run", "-url", "--", "k", "--", "cmd"},
			want: config{url: "--", ttl: defaultTTL, grace: defaultGrace, key: "k", argv: []string{"cmd"}},
		},
		{
			args: []string{"run", "--wait=1.5s", "k", "--", "cmd"},
			env:  "memcached://env",
			want: config{url: "memcached://env", ttl: defaultTTL, wait: 1500 * time.Millisecond, grace: defaultGrace, key: "k", argv: []string{"cmd"}},
		},
	} {
		got, err := parseArgs(tc.args, env(tc.env))
		if err != nil {
			t.Errorf("parseArgs(%q) = %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("parseArgs(%q) = %+v; want %+v", tc.args, *got, tc.want)
		}
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{nil, "no command"},
		{[]string{"lock"}, `unknown command "lock"`},
		{[]string{"run"}, "no KEY"},
		{[]string{"run", "", "--", "cmd"}, "KEY is empty"},
		{[]string{"run", "k"}, "no -- and no COMMAND after KEY"},
		{[]string{"run", "k", "cmd"}, "no -- between KEY"},
		{[]string{"run", "k", "-ttl", "1s", "--", "cmd"}, "flag -ttl after KEY"},
		{[]string{"run", "k", "--"}, "no COMMAND"},
		{[]string{"run", "k", "--", ""}, "no COMMAND"},
		{[]string{"run", "k", "--", "cmd"}, "set LOCK_URL"},
		{[]string{"run", "-ttl", "30", "k", "--", "cmd"}, `invalid value "30" for flag -ttl: a duration needs a unit`},
		{[]string{"run", "-ttl", "0", "k", "--", "cmd"}, "positive"},
		{[]string{"run", "-ttl", "-1s", "k", "--", "cmd"}, "not negative"},
		{[]string{"run", "-wait", "soon", "k", "--", "cmd"}, "or forever"},
		{[]string{"run", "-grace", "1 s", "k", "--", "cmd"}, "flag -grace"},
		{[]string{"run", "-timeout", "1s", "k", "--", "cmd"}, "flag provided but not defined: -timeout (distlock run -h for help)"},
		{[]string{"run", "-wiat", "1s", "k", "--", "cmd"}, "flag provided but not defined: -wiat (did you mean -wait?)"},
	} {
		_, err := parseArgs(tc.args, func(string) string { return "" })
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("parseArgs(%q) = %v; want a one-line usage error that says %q", tc.args, err, tc.says)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"run", "-h"}, {"run", "-url", "x", "-help"}} {
		if _, err := parseArgs(args, func(string) string { return "" }); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("parseArgs(%q) = %v; want flag.ErrHelp", args, err)
		}
	}
}

// TestParseArgsMissing: each malformed form of KEY -- COMMAND gets a
// message that names what is missing, and the form to follow.
func TestParseArgsMissing(t *testing.T) {
	const want = ": want distlock run [flags] KEY -- COMMAND [ARGS...]"
	for _, tc := range []struct {
		args []string
		msg  string // before want
	}{
		{[]string{"run"}, "no KEY, -- or COMMAND"},
		{[]string{"run", "-url", "memcached://h", "-q"}, "no KEY, -- or COMMAND"},
		{[]string{"run", "-url", "memcached://h", "--", "true"}, "no KEY before --"},
		{[]string{"run", "--", "sh", "-c", "true"}, "no KEY before --"},
		{[]string{"run", "--", "--", "true"}, "no KEY before --"},
		{[]string{"run", "-q", "--"}, "no KEY before -- and no COMMAND after it"},
		{[]string{"run", "", "--", "true"}, "KEY is empty"},
		{[]string{"run", "k"}, `no -- and no COMMAND after KEY "k"`},
		{[]string{"run", "k", "true"}, `no -- between KEY "k" and COMMAND "true"`},
		{[]string{"run", "make", "deploy"}, `no -- between KEY "make" and COMMAND "deploy"`},
		{[]string{"run", "my", "key", "--", "true"}, `no -- right after KEY "my", but "key" (quote a KEY that has spaces)`},
		{[]string{"run", "k", "--"}, "no COMMAND after --"},
		{[]string{"run", "k", "--", ""}, "no COMMAND after --"},
		{[]string{"run", "--", "k", "--"}, "no COMMAND after --"},
	} {
		_, err := parseArgs(tc.args, func(string) string { return "memcached://h" })
		var ue *usageError
		if !errors.As(err, &ue) || err.Error() != tc.msg+want {
			t.Errorf("parseArgs(%q) = %v; want a usage error %q", tc.args, err, tc.msg+want)
		}
	}
}

// TestParseArgsSuggest: an unknown flag gets the closest defined flag as a
// suggestion, when one is close.
func TestParseArgsSuggest(t *testing.T) {
	for _, tc := range []struct {
		flag string
		want string // "" for no suggestion
	}{
		{"-wiat", "wait"},
		{"--wiat=1s", "wait"},
		{"-wai", "wait"},
		{"-Wait", "wait"},
		{"-waiting", ""},
		{"-tll", "ttl"},
		{"-tl", "ttl"},
		{"-gracee", "grace"},
		{"-grcae", "grace"},
		{"-uri", "url"},
		{"-qq", "q"},
		{"-x", ""},
		{"-v", ""},
		{"-timeout", ""},
		{"-verbose", ""},
	} {
		_, err := parseArgs([]string{"run", tc.flag, "k", "--", "cmd"}, func(string) string { return "memcached://h" })
		name := strings.TrimLeft(tc.flag, "-")
		name, _, _ = strings.Cut(name, "=")
		msg := "flag provided but not defined: -" + name + " (distlock run -h for help)"
		if tc.want != "" {
			msg = "flag provided but not defined: -" + name + " (did you mean -" + tc.want + "?)"
		}
		var ue *usageError
		if !errors.As(err, &ue) || err.Error() != msg {
			t.Errorf("parseArgs(%q) = %v; want a usage error %q", tc.flag, err, msg)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"wait", "wait", 0},
		{"", "url", 3},
		{"wiat", "wait", 1}, // a swap
		{"wai", "wait", 1},
		{"waitt", "wait", 1},
		{"wzit", "wait", 1},
		{"grcae", "grace", 1},
		{"tl", "ttl", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3}, // no edit of a swapped pair (Damerau-Levenshtein says 2)
		{"é", "e", 1},    // letters, not bytes
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d; want %d", tc.a, tc.b, got, tc.want)
		}
		if got := editDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d; want %d", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestEndsWithDashes(t *testing.T) {
	fs := new(config).flagSet()
	for _, tc := range []struct {
		parsed []string
		want   bool
	}{
		{nil, false},
		{[]string{"--"}, true},
		{[]string{"-q", "--"}, true},
		{[]string{"-q=true", "--"}, true},
		{[]string{"-url", "--"}, false}, // the value of -url
		{[]string{"--url", "--"}, false},
		{[]string{"-url=x", "--"}, true},
		{[]string{"-url", "-q", "--"}, true}, // -q is the value of -url
		{[]string{"-url", "x", "-ttl", "1s"}, false},
	} {
		if got := endsWithDashes(fs, tc.parsed); got != tc.want {
			t.Errorf("endsWithDashes(%q) = %v; want %v", tc.parsed, got, tc.want)
		}
	}
}

func TestCheckScheme(t *testing.T) {
	if !slices.Contains(lock.Schemes(), "distlock-test") { // -count=2 runs this twice
		lock.Register("distlock-test", func(context.Context, *url.URL) (lock.Lock, error) { return nil, nil })
	}
	for _, tc := range []struct {
		url  string
		says []string // none for no error
	}{
		{"distlock-test://h", nil},
		{"DISTLOCK-TEST://h", nil},
		{"memcached://h:11211", nil},
		{"redis://:hunter2@h:6379/0", nil},
		{"rediss://h:6379/0", nil},
		{"postgres://u:hunter2@h:5432/db", nil}, // registered by the postgres package
		{"postgresql://u@h/db?sslmode=disable", nil},
		{"PostgreSQL://h/db", nil},
		{"127.0.0.1:11211", []string{"bad -url: ", "no scheme: want a URL such as memcached://127.0.0.1:11211 (registered: "}},
		{"localhost:5432", []string{"no scheme: want a URL such as postgres"}},
		{"u:hunter2@h:6379", []string{`unknown scheme "u"`, "not shown"}},
		{"user:hunter2@host://x", []string{`unknown scheme "user"`, "not shown"}},
		{"memory://x", []string{"inside one process", "memcached://, ", "postgres://, postgresql://, redis://, rediss://"}},
		{"Memory://x", []string{"inside one process"}},
		{"memory:x", []string{"inside one process"}},
		{"memcache://x", []string{`unknown scheme "memcache"`, "did you mean memcached?", "registered: "}},
		{"postgre://u:hunter2@h/db", []string{`unknown scheme "postgre"`, "did you mean postgres?"}},
		{"redis://:hunter2@h:port/0", []string{"bad -url: ", "invalid URL: a redis URL with an invalid port"}},
	} {
		err := checkScheme(tc.url)
		if len(tc.says) == 0 && err != nil {
			t.Errorf("checkScheme(%q) = %v; want nil", tc.url, err)
		}
		for _, says := range tc.says {
			if err == nil || !strings.Contains(err.Error(), says) {
				t.Errorf("checkScheme(%q) = %v; want an error that says %q", tc.url, err, says)
			}
		}
		if err != nil && strings.Contains(err.Error(), "forgotten import") {
			t.Errorf("checkScheme(%q) = %v; want no hint about imports (distlock registers its backends)", tc.url, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("checkScheme(%q) = %v; want no password", tc.url, err)
		}
	}
}

func TestStoreFailure(t *testing.T) {
	refused := fmt.Errorf("memcached: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	cut := fmt.Errorf("memcached: %w", context.Canceled)
	for _, tc := range []struct {
		err  error
		want error // nil: a busy key
	}{
		{fmt.Errorf("%w: %w", lock.ErrNotAcquired, context.DeadlineExceeded), nil},
		{fmt.Errorf("%w: %w", lock.ErrNotAcquired, context.Canceled), nil},
		{fmt.Errorf("%w: %w", lock.ErrNotAcquired, cut), nil},
		{fmt.Errorf("%w: %w", errWaitOver, fmt.Errorf("%w: %w", lock.ErrNotAcquired, context.Canceled)), nil},
		{fmt.Errorf("%w: %w: %w", lock.ErrNotAcquired, context.Canceled, refused), refused},
		{fmt.Errorf("%w: %w: %w", errWaitOver, lock.ErrNotAcquired, refused), refused},
		{errors.Join(errWaitOver, fmt.Errorf("%w: %w: %w", lock.ErrNotAcquired, context.Canceled, refused)), refused},
	} {
		if got := storeFailure(tc.err); got != tc.want {
			t.Errorf("storeFailure(%q) = %v; want %v", tc.err, got, tc.want)
		}
	}
}

// TestDocs checks that the usage text, the package doc and the README's
// section for operators list the same flags and exit statuses.
func TestDocs(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## For operators: `distlock run`")
	if !ok {
		t.Fatal("README has no section \"## For operators: `distlock run`\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	texts := map[string]string{"usage": usage, "doc.go": string(doc), "README": section}

	c := &config{}
	c.flagSet().VisitAll(func(f *flag.Flag) {
		for name, text := range texts {
			if !mentionsFlag(text, f.Name) {
				t.Errorf("%s does not document the flag -%s", name, f.Name)
			}
		}
	})
	for _, code := range []int{exitUsage, exitUnavailable, exitBusy, exitLost, exitCannotRun, exitNotFound} {
		for name, text := range texts {
			if !strings.Contains(text, strconv.Itoa(code)+" ") {
				t.Errorf("%s does not document the exit status %d", name, code)
			}
		}
	}
	const cron = "*/5 * * * * distlock run -url memcached://cache:11211 nightly-report -- ./report.sh"
	if !strings.Contains(section, cron) {
		t.Errorf("README's section for operators lacks the cron example %q", cron)
	}
}

// mentionsFlag reports whether text has -name, not followed by a letter.
func mentionsFlag(text, name string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], "-"+name)
		if j < 0 {
			return false
		}
		i += j + 1 + len(name)
		if i == len(text) || !('a' <= text[i] && text[i] <= 'z') {
			return true
		}
	}
}
