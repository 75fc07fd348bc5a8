package memcached_test

import (
	"testing"
	"time"

	"github.com/distlock/lock/internal/fakeclock"
)

// TestExpiryAcrossSkippedSecond models memcached's clock as it is: a count
// of whole seconds that a timer reads once a second. The timer drifts, and
// when two of its reads straddle two second boundaries the count grows by 2
// at once (on a memcached left running, about every 20 minutes). Here the
// fake's clock stands for the count: a read at X+0.999s gives X, the next,
// due at X+1.999s, comes at X+2.001s and gives X+2. A lock acquired at
// X+1.99s, still under count X, must outlive its ttl all the same.
func TestExpiryAcrossSkippedSecond(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		count := fakeclock.New(time.Unix(1_800_000_000, 0))
		srv, c := startFake(t, count)
		owner, rival := p.lock(t, srv, c, testOptions()), p.lock(t, srv, c, testOptions())
		ctx := t.Context()
		const ttl = time.Second
		if ok, err := owner.TryAcquireLock(ctx, "k", ttl); !ok || err != nil {
			t.Fatalf("TryAcquireLock = %v, %v; want true", ok, err)
		}
		count.Advance(2 * time.Second) // the late read, 11ms after the acquire
		if ok, err := rival.TryAcquireLock(ctx, "k", time.Minute); ok || err != nil {
			t.Fatalf("rival TryAcquireLock 11ms after a %v lock was acquired, once memcached's count grew by 2 = %v, %v; want false, nil", ttl, ok, err)
		}
		count.Advance(time.Second) // the next read, at X+3.001s: 1.011s after the acquire
		if ok, err := rival.TryAcquireLock(ctx, "k", time.Minute); !ok || err != nil {
			t.Fatalf("rival TryAcquireLock 1.011s after a %v lock was acquired = %v, %v; want true: it expired", ttl, ok, err)
		}
	})
}
