//go:build unix

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/bradfitz/gomemcache/memcache"
	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock/memcached"
	"github.com/distlock/lock/memcached/memcachedtest"
)

// A store is a lock store that distlock processes share in a test, with a
// way in behind distlock's back.
type store struct {
	name string
	url  string
	// delete deletes the lock of key, as an operator's flush or an
	// eviction would.
	delete func(t *testing.T, key string)
	// held reports whether the store holds a lock on key.
	held func(t *testing.T, key string) bool
	// fake is the server of the in-process fake memcached, else nil.
	fake *memcachedtest.Server
}

// stores returns the stores to run the end-to-end tests on: an in-process
// fake memcached and a miniredis, always; real memcached and redis when
// LOCK_TEST_MEMCACHED_URL and LOCK_TEST_REDIS_URL name them (set but not
// answering fails the test).
func stores(t *testing.T) []store {
	t.Helper()
	s := []store{fakeMemcached(t), miniRedis(t)}
	if raw := os.Getenv("LOCK_TEST_MEMCACHED_URL"); raw != "" {
		s = append(s, realMemcached(t, raw))
	}
	if raw := os.Getenv("LOCK_TEST_REDIS_URL"); raw != "" {
		s = append(s, realRedis(t, raw))
	}
	return s
}

func fakeMemcached(t *testing.T) store {
	t.Helper()
	srv, err := memcachedtest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s := memcachedStore(t, "fake-memcached", "memcached://"+srv.Addr(), memcache.New(srv.Addr()), memcached.DefaultPrefix)
	s.fake = srv
	return s
}

func realMemcached(t *testing.T, raw string) store {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("LOCK_TEST_MEMCACHED_URL: %v", err)
	}
	prefix := u.Query().Get("prefix")
	if prefix == "" {
		prefix = memcached.DefaultPrefix
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	sel, err := memcached.Servers(ctx, strings.Split(u.Host, ",")...)
	if err != nil {
		t.Fatalf("LOCK_TEST_MEMCACHED_URL: %v", err)
	}
	c := memcache.NewFromSelector(sel)
	c.Timeout = 2 * time.Second
	if err := c.Ping(); err != nil {
		t.Fatalf("LOCK_TEST_MEMCACHED_URL is set but the server does not answer: %v", err)
	}
	return memcachedStore(t, "memcached", raw, c, prefix)
}

// memcachedStore works on keys that are legal memcached keys, which the
// backend stores as prefix+key.
func memcachedStore(t *testing.T, name, rawURL string, c *memcache.Client, prefix string) store {
	t.Cleanup(func() { c.Close() })
	return store{
		name: name,
		url:  rawURL,
		delete: func(t *testing.T, key string) {
			if err := c.Delete(prefix + key); err != nil {
				t.Fatalf("memcached delete %q: %v", prefix+key, err)
			}
		},
		held: func(t *testing.T, key string) bool {
			_, err := c.Get(prefix + key)
			if err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
				t.Fatalf("memcached get %q: %v", prefix+key, err)
			}
			return err == nil
		},
	}
}

func miniRedis(t *testing.T) store {
	t.Helper()
	mr, err := miniredis.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr.Close)
	return store{
		name: "miniredis",
		url:  "redis://" + mr.Addr() + "/0",
		delete: func(t *testing.T, key string) {
			if !mr.Del("lock:" + key) {
				t.Fatalf("miniredis: no key %q to delete", "lock:"+key)
			}
		},
		held: func(t *testing.T, key string) bool { return mr.Exists("lock:" + key) },
	}
}

func realRedis(t *testing.T, raw string) store {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL: %v", err)
	}
	// The lock's own parameters are not go-redis's.
	q := u.Query()
	prefix := q.Get("prefix")
	if prefix == "" {
		prefix = "lock:"
	}
	for _, p := range []string{"prefix", "timeout", "retry_interval", "retry_timeout", "max_ttl", "close_timeout", "fence"} {
		q.Del(p)
	}
	u.RawQuery = q.Encode()
	o, err := goredis.ParseURL(u.String())
	if err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL: %v", err)
	}
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL is set but the server does not answer: %v", err)
	}
	return store{
		name: "redis",
		url:  raw,
		delete: func(t *testing.T, key string) {
			n, err := c.Del(t.Context(), prefix+key).Result()
			if err != nil || n != 1 {
				t.Fatalf("redis DEL %q = %d, %v; want 1", prefix+key, n, err)
			}
		},
		held: func(t *testing.T, key string) bool {
			n, err := c.Exists(t.Context(), prefix+key).Result()
			if err != nil {
				t.Fatalf("redis EXISTS %q: %v", prefix+key, err)
			}
			return n == 1
		},
	}
}

// newKey returns a key of its own for a test, so that runs sharing a real
// server do not meet. It is a legal memcached key, stored verbatim.
func newKey(name string) string {
	return "distlock-test-" + rand.Text()[:12] + "-" + name
}
