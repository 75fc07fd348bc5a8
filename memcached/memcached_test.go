package memcached_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/memcached"
)

const testRetry = 50 * time.Millisecond

// realServers returns the servers of LOCK_TEST_MEMCACHED_URL, or skips the
// test when it is not set.
func realServers(t testing.TB) []string {
	t.Helper()
	raw := os.Getenv("LOCK_TEST_MEMCACHED_URL")
	if raw == "" {
		t.Skip("LOCK_TEST_MEMCACHED_URL not set")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("LOCK_TEST_MEMCACHED_URL: %v", err)
	}
	return strings.Split(u.Host, ",")
}

// realClient returns a client of the real server, failing the test when the
// server is configured but does not answer.
func realClient(t testing.TB) *memcache.Client {
	t.Helper()
	c := memcache.New(realServers(t)...)
	c.MaxIdleConns = 16
	if err := c.Ping(); err != nil {
		t.Fatalf("LOCK_TEST_MEMCACHED_URL is set but the server does not answer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newLock(t testing.TB, c *memcache.Client) lock.Lock {
	t.Helper()
	l, err := memcached.New(c, &memcached.Options{Options: lock.Options{RetryInterval: testRetry}})
	if err != nil {
		t.Fatalf("memcached.New: %v", err)
	}
	return l
}

// wrapDial returns a dial function for DialWith (or gomemcache's
// DialContext) that dials with net.Dialer and hands each connection to
// wrap, which returns the connection the client uses.
func wrapDial(wrap func(net.Conn) net.Conn) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(c), nil
	}
}

// dialLock returns a Lock made by Dial on addrs, closed when the test
// ends. A nil opts means the test's retry interval.
func dialLock(t testing.TB, addrs []string, opts *memcached.Options) lock.Lock {
	t.Helper()
	if opts == nil {
		opts = &memcached.Options{Options: lock.Options{RetryInterval: testRetry}}
	}
	l, err := memcached.Dial(t.Context(), addrs, opts)
	if err != nil {
		t.Fatalf("memcached.Dial(%q): %v", addrs, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestConformanceReal runs the conformance suite on the real server, with
// Locks of each protocol: the meta one (Dial), with and without fencing
// tokens, and the classic one (New).
func TestConformanceReal(t *testing.T) {
	c := realClient(t)
	addrs := realServers(t)
	for _, tc := range []struct {
		name string
		new  func(t *testing.T) lock.Lock
	}{
		{"Meta", func(t *testing.T) lock.Lock { return dialLock(t, addrs, nil) }},
		{"MetaFenced", func(t *testing.T) lock.Lock {
			return dialLock(t, addrs, &memcached.Options{Options: lock.Options{RetryInterval: testRetry}, Fence: true})
		}},
		{"Classic", func(t *testing.T) lock.Lock { return newLock(t, c) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			locktest.Run(t, locktest.Harness{
				New:           tc.new,
				Delete:        deleteWith(c),
				Granularity:   3 * time.Second,
				TTL:           time.Second,
				RetryInterval: testRetry,
			})
		})
	}
}

// deleteWith returns a locktest Delete hook over c: the suite's keys are
// legal memcached keys, stored under the default prefix as they are.
func deleteWith(c *memcache.Client) func(*testing.T, string) {
	return func(t *testing.T, key string) {
		if err := c.Delete(memcached.DefaultPrefix + key); err != nil {
			t.Fatalf("deleting %q behind its holder's back: %v", key, err)
		}
	}
}

func TestOpenRedactsPassword(t *testing.T) {
	_, err := lock.Open(t.Context(), "memcached://user:secret@127.0.0.1:1")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open with a password in the URL: error = %v; want an error without the password", err)
	}
}
