package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest/faulttest"
	"github.com/distlock/lock/redis"
)

// The fault tests run the table of locktest/faulttest (one fault injected
// around one call, through a proxy, and checked against the server
// directly) on miniredis always and on the real server of
// LOCK_TEST_REDIS_URL when it is set, and log a table of the figures.

// T is the per-round-trip timeout of a Lock opened by URL.
const T = redis.DefaultTimeout

// faultBackend is what the fault table needs to know of redis: a Lock
// opened by URL makes each round trip within T, and never retries inside
// go-redis.
func faultBackend(t *testing.T) *faulttest.Backend {
	return &faulttest.Backend{
		Column: "store",
		Stores: faultStores(t),
		// Under one timeout, so that one more round trip timed out fails.
		Slack:           250 * time.Millisecond,
		CallBound:       T,
		TryAcquireBound: 2 * T, // the backend sends an attempt whose outcome is unknown once more
		// PTTL counts milliseconds, and never shows more than the ttl set.
		AcquiredTTL: faulttest.TTL,
	}
}

// faultStores are the servers the fault tests run against.
func faultStores(t *testing.T) []faulttest.Store {
	stores := []faulttest.Store{{
		Name: "miniredis",
		Start: func(t *testing.T, _ bool) faulttest.Server {
			mr, direct := mini(t)
			lockURL := func(proxyAddr, prefix string) string {
				return "redis://" + proxyAddr + "?prefix=" + url.QueryEscape(prefix)
			}
			restart := func(...string) { // a true restart, empty
				mr.Close()
				mr.FlushAll()
				if err := mr.Restart(); err != nil {
					t.Errorf("miniredis restart: %v", err)
				}
			}
			return faultServer(mr.Addr(), direct, lockURL, restart)
		},
	}}
	raw := os.Getenv("LOCK_TEST_REDIS_URL")
	if raw == "" {
		return stores
	}
	c := realClient(t)
	base, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL: %v", err)
	}
	return append(stores, faulttest.Store{
		Name: "real",
		Start: func(t *testing.T, _ bool) faulttest.Server {
			lockURL := func(proxyAddr, prefix string) string {
				u := *base
				u.Host = proxyAddr
				q := u.Query()
				q.Set("prefix", prefix)
				u.RawQuery = q.Encode()
				return u.String()
			}
			// The server is shared: the data loss is that of the test's
			// own keys.
			lose := func(keys ...string) {
				if err := c.Del(context.Background(), keys...).Err(); err != nil {
					t.Errorf("deleting %q: %v", keys, err)
				}
			}
			return faultServer(c.Options().Addr, c, lockURL, lose)
		},
	})
}

// faultServer is the server at addr to the fault table: read through
// direct, a client straight to it; its Lock's URL made by lockURL; its
// data lost by lose.
func faultServer(addr string, direct goredis.UniversalClient, lockURL func(proxyAddr, prefix string) string, lose func(keys ...string)) faulttest.Server {
	return faulttest.Server{
		Addr: addr,
		URL:  lockURL,
		Token: func(key string) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			v, err := direct.Get(ctx, key).Result()
			switch {
			case errors.Is(err, goredis.Nil):
				return "", nil
			case err != nil:
				return "", fmt.Errorf("GET: %w", err)
			}
			return v, nil
		},
		TTL: func(key string) (time.Duration, error) {
			d, err := direct.PTTL(context.Background(), key).Result()
			if err != nil {
				return d, fmt.Errorf("PTTL: %w", err)
			}
			return d, nil
		},
		Lose: lose,
	}
}

// TestFaults runs every op under every fault, on every store.
func TestFaults(t *testing.T) {
	t.Parallel() // real time: timeouts and latencies; its scenarios run in parallel too
	faulttest.Run(t, faultBackend(t))
}

// TestReleaseReplyCut: the reply of a release is lost, and the release is
// sent again, finding the token gone. Over a client made from a URL (no
// retries inside go-redis) the Lock knows its first try may have landed,
// and reports the release done. Over a client passed to New that retries
// inside go-redis, the retry's "not held" is all the Lock sees: it may
// report ErrNotHeld, a false loss, as the package doc says; never a
// release of a token still stored.
func TestReleaseReplyCut(t *testing.T) {
	b := faultBackend(t)
	for _, st := range b.Stores {
		t.Run(st.Name, func(t *testing.T) {
			t.Run("URL", func(t *testing.T) {
				fx := faulttest.NewFixture(t, b, st, false)
				s := faulttest.MustAcquire(t, fx.L, fx.Key)
				fx.P.CutNextReply(0)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := s.Release(ctx); err != nil {
					t.Errorf("Release with its reply lost = %v; want nil", err)
				}
				if got := fx.Stored(fx.Key); got != "" {
					t.Errorf("server holds %q after the release; want nothing", got)
				}
				if n := fx.P.Stats().Cuts; n != 1 {
					t.Errorf("replies cut = %d; want 1", n)
				}
				fx.AfterHeal(false, time.Now())
			})
			t.Run("NewWithGoRedisRetries", func(t *testing.T) {
				fx := faulttest.NewFixture(t, b, st, false)
				c := goredis.NewClient(&goredis.Options{Addr: fx.P.Addr(), ContextTimeoutEnabled: true}) // MaxRetries: go-redis's 3
				defer c.Close()
				l := mustNew(t, c, &redis.Options{Prefix: fx.Prefix})
				defer l.Close()
				s := faulttest.MustAcquire(t, l, fx.Key)
				fx.P.CutNextReply(0)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := s.Release(ctx)
				if err != nil && !errors.Is(err, lock.ErrNotHeld) {
					t.Errorf("Release with its reply lost = %v; want nil or ErrNotHeld", err)
				}
				if got := fx.Stored(fx.Key); got != "" {
					t.Errorf("server holds %q after Release = %v; want nothing", got, err)
				}
				t.Logf("Release over a go-redis client with retries, its reply lost: %v", err)
			})
		})
	}
}
