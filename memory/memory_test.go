package memory_test

import (
	"sync"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/memory"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestConformanceFakeClock(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := memory.NewStore(&memory.Options{Now: clock.Now})
	locktest.Run(t, locktest.Harness{
		New:     func(*testing.T) lock.Lock { return store.Lock() },
		Advance: clock.Advance,
	})
}

func TestConformanceRealTime(t *testing.T) {
	store := memory.NewStore(nil)
	locktest.Run(t, locktest.Harness{
		New: func(*testing.T) lock.Lock { return store.Lock() },
		TTL: 200 * time.Millisecond,
	})
}

func TestConformanceURL(t *testing.T) {
	locktest.Run(t, locktest.Harness{
		New: func(t *testing.T) lock.Lock {
			l, err := lock.Open(t.Context(), "memory://conformance?retry_timeout=50ms")
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		RetryInterval: 50 * time.Millisecond,
	})
}
