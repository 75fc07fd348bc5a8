package urlparam_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/testnet"
	_ "github.com/distlock/lock/memcached"
	"github.com/distlock/lock/memcached/memcachedtest"
	_ "github.com/distlock/lock/memory"
	_ "github.com/distlock/lock/redis"
)

// TestSharedParameters checks the README's promise that one query string
// carries from one backend to another: every backend takes prefix,
// retry_interval (or retry_timeout), max_ttl and close_timeout, with the
// same meaning, refuses a bare number, and says ErrInvalidURL for a URL it
// cannot use but not for a store it cannot reach.
func TestSharedParameters(t *testing.T) {
	mc, err := memcachedtest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	mr := miniredis.RunT(t)
	closed := testnet.ClosedAddr(t)

	ctx := t.Context()
	for _, base := range []string{"memory://shared", "memcached://" + mc.Addr(), "redis://" + mr.Addr()} {
		for _, query := range []string{
			"?prefix=shared:&retry_interval=20ms&max_ttl=1h&close_timeout=1s",
			"?prefix=shared:&retry_timeout=20ms&max_ttl=1h&close_timeout=1s",
		} {
			l, err := lock.Open(ctx, base+query)
			if err != nil {
				t.Errorf("Open(%s%s) = %v; want every backend to take the shared parameters", base, query, err)
				continue
			}
			if _, err := l.TryAcquire(ctx, "k", 2*time.Hour); !errors.Is(err, lock.ErrInvalidTTL) {
				t.Errorf("%s%s: TryAcquire with a ttl above max_ttl = %v; want ErrInvalidTTL", base, query, err)
			}
			s, err := l.TryAcquire(ctx, "k", time.Hour)
			if err != nil {
				t.Errorf("%s%s: TryAcquire with a ttl of max_ttl = %v; want a lease", base, query, err)
			} else if err := s.Release(ctx); err != nil {
				t.Errorf("%s%s: Release = %v", base, query, err)
			}
			l.Close()
		}
		for _, query := range []string{"?retry_interval=20", "?max_ttl=3600", "?close_timeout=1", "?bogus=1", "?retry_interval=1s&retry_timeout=1s", "?prefix="} {
			if l, err := lock.Open(ctx, base+query); !errors.Is(err, lock.ErrInvalidURL) {
				if l != nil {
					l.Close()
				}
				t.Errorf("Open(%s%s) = %v; want an error matching ErrInvalidURL", base, query, err)
			}
		}
	}
	for _, raw := range []string{"memcached://" + closed, "redis://" + closed} {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		l, err := lock.Open(ctx, raw)
		cancel()
		if err == nil {
			l.Close()
			t.Fatalf("Open(%s) of a closed port = nil error", raw)
		}
		if errors.Is(err, lock.ErrInvalidURL) {
			t.Errorf("Open(%s) of a closed port = %v; matches ErrInvalidURL, but the URL is fine", raw, err)
		}
	}
}
