package etcd_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distlock/lock"
	_ "github.com/distlock/lock/etcd" // registers etcd:// and etcds://
	"github.com/distlock/lock/internal/testnet"
)

// testPassword is the password of the URLs below; no error may contain it.
const testPassword = "pa55-w0rd-s3cret"

// openQuick opens raw within 5s, closing a Lock that opened.
func openQuick(t *testing.T, raw string) (lock.Lock, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := lock.Open(ctx, raw)
	if err == nil {
		t.Cleanup(func() { l.Close() })
	}
	return l, err
}

// TestOpenInvalidURL checks URLs that Open cannot use as written: each
// fails before any I/O (the hosts below do not exist), with an error that
// matches lock.ErrInvalidURL, says what is wrong, and never shows the
// password.
func TestOpenInvalidURL(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	const auth = "etcd://alice:" + testPassword + "@"
	for _, tc := range []struct {
		raw  string
		want []string // in the error
	}{
		// An unknown parameter, listed with the valid ones.
		{auth + "db.invalid:2379?bogus=1", []string{"unknown parameter bogus", "dial_timeout", "prefix", "server_name", "timeout", "tls"}},
		{auth + "db.invalid?prefix=app/&colour=blue&size=3", []string{"unknown parameters colour, size", "valid:"}},
		// Durations need a unit.
		{auth + "db.invalid?timeout=500", []string{"timeout=500", "no unit"}},
		{auth + "db.invalid?dial_timeout=3", []string{"dial_timeout=3", "no unit"}},
		{auth + "db.invalid?retry_interval=20", []string{"retry_interval=20", "no unit"}},
		{auth + "db.invalid?timeout=soon", []string{"timeout"}},
		// Booleans are strconv.ParseBool's.
		{auth + "db.invalid?tls=maybe", []string{"tls=maybe", "true or false"}},
		{"etcds://alice:" + testPassword + "@db.invalid?insecure_skip_verify=yes", []string{"insecure_skip_verify=yes", "true or false"}},
		// An etcd URL names no database.
		{auth + "db.invalid:2379/mydb", []string{"path", "prefix="}},
		// No host at all, or an empty one in the list.
		{"etcd://", []string{"no host"}},
		{"etcd:///?prefix=app/", []string{"no host"}},
		{auth + "?prefix=app/", []string{"no host"}},
		{auth + "db1.invalid:2379,,db2.invalid:2379", []string{`endpoint ""`, "no host"}},
		{auth + "db1.invalid:2379,:2379", []string{`endpoint ":2379"`, "no host"}},
		{auth + ":2379", []string{"no host"}},
		// TLS settings on a plain-text URL.
		{auth + "db.invalid?ca=" + url.QueryEscape(ca), []string{"ca, server_name and insecure_skip_verify need TLS"}},
		{auth + "db.invalid?server_name=db", []string{"need TLS"}},
		{auth + "db.invalid?insecure_skip_verify=true", []string{"need TLS"}},
		{auth + "db.invalid?tls=false&ca=" + url.QueryEscape(ca), []string{"need TLS"}},
		// A ca file that is not there, or holds no certificate.
		{"etcds://alice:" + testPassword + "@db.invalid?ca=" + url.QueryEscape(ca+".missing"), []string{"ca:"}},
		{"etcds://alice:" + testPassword + "@db.invalid?ca=" + url.QueryEscape(ca), []string{"no PEM certificate"}},
		// Empty values, and parameters given twice.
		{auth + "db.invalid?prefix=", []string{"prefix"}},
		{auth + "db.invalid?ca=&tls=true", []string{"ca"}},
		{auth + "db.invalid?timeout=1s&timeout=2s", []string{"timeout given 2 times"}},
		{auth + "db.invalid?prefix=a/&prefix=b/", []string{"prefix given 2 times"}},
		{auth + "db.invalid?tls=true&tls=true", []string{"tls given 2 times"}},
		{auth + "db.invalid?retry_interval=1s&retry_timeout=1s", []string{"retry"}},
	} {
		begin := time.Now()
		_, err := openQuick(t, tc.raw)
		took := time.Since(begin)
		redacted := strings.ReplaceAll(tc.raw, testPassword, "xxxxx")
		switch {
		case err == nil:
			t.Errorf("Open(%s) = a Lock; want an error matching ErrInvalidURL", redacted)
			continue
		case !errors.Is(err, lock.ErrInvalidURL):
			t.Errorf("Open(%s) = %v; want an error matching ErrInvalidURL", redacted, err)
		case errors.Is(err, lock.ErrUnavailable):
			t.Errorf("Open(%s) = %v; matches ErrUnavailable, but the URL is at fault", redacted, err)
		}
		if strings.Contains(err.Error(), testPassword) {
			t.Errorf("Open(%s): the error shows the password: %v", redacted, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%s) = %v; want it to say %q", redacted, err, w)
			}
		}
		if took > time.Second {
			t.Errorf("Open(%s) took %v; a URL refused as written needs no I/O", redacted, took)
		}
	}
}

// TestOpenUnreachable checks Open of a cluster that does not answer: it
// fails within dial_timeout (and some slack), with an error that matches
// lock.ErrUnavailable, not lock.ErrInvalidURL, and never shows the
// password, with credentials given or not.
func TestOpenUnreachable(t *testing.T) {
	closed := testnet.ClosedAddr(t)
	for _, raw := range []string{
		"etcd://127.0.0.1:1?dial_timeout=300ms",
		"etcd://127.0.0.1:1,127.0.0.1:2?dial_timeout=300ms",
		"etcd://" + closed + "?dial_timeout=300ms&prefix=app/",
		"etcd://alice:" + testPassword + "@127.0.0.1:1?dial_timeout=300ms",
		"etcd://alice:" + testPassword + "@" + closed + "?dial_timeout=300ms",
	} {
		redacted := strings.ReplaceAll(raw, testPassword, "xxxxx")
		t.Run(redacted, func(t *testing.T) {
			t.Parallel()
			begin := time.Now()
			_, err := openQuick(t, raw)
			took := time.Since(begin)
			switch {
			case err == nil:
				t.Fatalf("Open(%s) of a closed port = a Lock", redacted)
			case !errors.Is(err, lock.ErrUnavailable):
				t.Errorf("Open(%s) of a closed port = %v; want an error matching ErrUnavailable", redacted, err)
			}
			if errors.Is(err, lock.ErrInvalidURL) {
				t.Errorf("Open(%s) of a closed port = %v; matches ErrInvalidURL, but the URL is fine", redacted, err)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("Open(%s): the error shows the password: %v", redacted, err)
			}
			if took > 1500*time.Millisecond {
				t.Errorf("Open(%s) took %v; want it to give up within dial_timeout=300ms (+ slack, under 1.5s)", redacted, took)
			}
		})
	}
}

// TestOpenTLSToPlainText checks that etcds:// to a server that speaks
// plain text fails, within dial_timeout, and is not an invalid URL.
func TestOpenTLSToPlainText(t *testing.T) {
	if os.Getenv("LOCK_TEST_ETCD_URL") != "" {
		if u, err := lock.ParseURL(os.Getenv("LOCK_TEST_ETCD_URL")); err == nil && !strings.EqualFold(u.Scheme, "etcd") {
			t.Skip("LOCK_TEST_ETCD_URL is not a plain-text etcd:// URL")
		}
	}
	base := parseTestURL(t)
	for _, q := range []string{"dial_timeout=500ms", "dial_timeout=500ms&insecure_skip_verify=true"} {
		u := *base
		u.Scheme = "etcds"
		u.RawQuery = q
		begin := time.Now()
		_, err := openQuick(t, u.String())
		took := time.Since(begin)
		switch {
		case err == nil:
			t.Errorf("Open(%s) of a plain-text server = a Lock; want an error", u.Redacted())
		case errors.Is(err, lock.ErrInvalidURL):
			t.Errorf("Open(%s) of a plain-text server = %v; matches ErrInvalidURL, but the URL is fine", u.Redacted(), err)
		case !errors.Is(err, lock.ErrUnavailable):
			t.Errorf("Open(%s) of a plain-text server = %v; want an error matching ErrUnavailable", u.Redacted(), err)
		}
		if took > 2*time.Second {
			t.Errorf("Open(%s) took %v; want it to give up within dial_timeout=500ms (+ slack)", u.Redacted(), took)
		}
	}
}

// TestOpenURL opens the cluster of testURL in the forms an etcd URL takes
// (its endpoints as given, a list, endpoints without a port, which mean
// 2379, the scheme in capitals, the parameters), and checks that each Lock
// works: TryAcquire, a second TryAcquire refused, Release.
func TestOpenURL(t *testing.T) {
	base := parseTestURL(t)
	hosts := strings.Split(base.Host, ",")
	variant := func(host, query string) string {
		u := *base
		u.Host = host
		q := u.Query()
		for k, vs := range mustQuery(t, query) {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	// A port-less endpoint is host:2379: nothing listens there in a test
	// (or a cluster does, which answers): a list with one answering
	// endpoint works all the same.
	const portless = "localhost"
	raws := []string{
		base.String(),
		variant(base.Host, "prefix=url-test/&timeout=1s&dial_timeout=3s&retry_interval=20ms&max_ttl=1h&close_timeout=1s"),
		variant(base.Host, "tls=false"),
		variant(strings.Join(hosts, ",")+","+hosts[0], "prefix=url-list/"),     // a list (the first endpoint twice)
		variant(hosts[0]+","+portless, "prefix=url-portless/&dial_timeout=3s"), // a list, with an endpoint without its port
	}
	if base.User == nil {
		// The cluster has no authentication: a user and password given
		// are accepted (the client's authentication is refused as not
		// enabled, which it ignores).
		u, _ := url.Parse(variant(base.Host, "prefix=url-auth/"))
		u.User = url.UserPassword("alice", testPassword)
		raws = append(raws, u.String())
	}
	if strings.EqualFold(base.Scheme, "etcd") {
		raws = append(raws, "ETCD"+strings.TrimPrefix(variant(base.Host, "prefix=url-caps/"), base.Scheme))
	}
	for _, raw := range raws {
		redacted := strings.ReplaceAll(raw, testPassword, "xxxxx")
		l, err := openQuick(t, raw)
		if err != nil {
			t.Errorf("Open(%s) = %v; want a Lock", redacted, err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := l.TryAcquire(ctx, "url-key", 10*time.Second)
		if err != nil {
			t.Errorf("%s: TryAcquire = %v; want a lease", redacted, err)
			cancel()
			continue
		}
		if _, err := l.TryAcquire(ctx, "url-key", 10*time.Second); !errors.Is(err, lock.ErrNotAcquired) {
			t.Errorf("%s: TryAcquire of a key held = %v; want ErrNotAcquired", redacted, err)
		}
		if fence, ok := s.Fence(); !ok || fence == 0 {
			t.Errorf("%s: Fence() = %d, %v; want the key's create revision", redacted, fence, ok)
		}
		if err := s.Release(ctx); err != nil {
			t.Errorf("%s: Release = %v; want nil", redacted, err)
		}
		cancel()
		if err := l.Close(); err != nil {
			t.Errorf("%s: Close = %v", redacted, err)
		}
	}
}

// TestOpenPortlessUnreachable checks that an endpoint without a port is
// read as host:2379, not refused: Open of one where nothing answers fails
// as unreachable, never as an invalid URL.
func TestOpenPortlessUnreachable(t *testing.T) {
	for _, raw := range []string{"etcd://127.0.0.1?dial_timeout=300ms", "etcd://127.0.0.1,localhost?dial_timeout=300ms"} {
		_, err := openQuick(t, raw)
		if err != nil && (errors.Is(err, lock.ErrInvalidURL) || !errors.Is(err, lock.ErrUnavailable)) {
			t.Errorf("Open(%s) = %v; want a Lock (an etcd on 2379), or an error matching ErrUnavailable and not ErrInvalidURL", raw, err)
		}
	}
}

// parseTestURL returns testURL, parsed as Open parses it.
func parseTestURL(t *testing.T) *url.URL {
	t.Helper()
	u, err := lock.ParseURL(testURL(t))
	if err != nil {
		t.Fatalf("etcd URL: %v", err)
	}
	return u
}

func mustQuery(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
