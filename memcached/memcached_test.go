package memcached_test

import (
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
	l, err := memcached.New(c, &memcached.Options{RetryInterval: testRetry})
	if err != nil {
		t.Fatalf("memcached.New: %v", err)
	}
	return l
}

func TestConformanceReal(t *testing.T) {
	c := realClient(t)
	locktest.Run(t, locktest.Harness{
		New:           func(t *testing.T) lock.Lock { return newLock(t, c) },
		Delete:        deleteWith(c),
		Granularity:   2 * time.Second,
		TTL:           time.Second,
		RetryInterval: testRetry,
	})
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

func memcachedDial(tb testing.TB, addrs []string) (lock.Lock, error) {
	return memcached.Dial(tb.Context(), addrs, &memcached.Options{RetryInterval: testRetry})
}

func TestOpenRedactsPassword(t *testing.T) {
	_, err := lock.Open(t.Context(), "memcached://user:secret@127.0.0.1:1")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open with a password in the URL: error = %v; want an error without the password", err)
	}
}
