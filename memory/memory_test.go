package memory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/fakeclock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/memory"
)

// The conformance suites run in parallel, each on a store of its own: the
// suite on a clock it moves runs its subtests one by one, sleeping through
// keep-alives on real time, and the ones on real time sleep through
// expiries.

func TestConformanceFakeClock(t *testing.T) {
	t.Parallel()
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	// Its subtests run one after another: a short retry interval makes
	// those that wait a few of them (TestConformanceRealTime keeps the
	// default).
	const retry = 25 * time.Millisecond
	store := memory.NewStore(&memory.Options{Now: clock.Now, Options: lock.Options{RetryInterval: retry}})
	locktest.Run(t, locktest.Harness{
		New:           func(*testing.T) lock.Lock { return store.Lock() },
		Advance:       clock.Advance,
		RetryInterval: retry,
	})
}

func TestConformanceRealTime(t *testing.T) {
	t.Parallel()
	store := memory.NewStore(nil)
	locktest.Run(t, locktest.Harness{
		New: func(*testing.T) lock.Lock { return store.Lock() },
		TTL: 200 * time.Millisecond,
	})
}

func TestConformanceURL(t *testing.T) {
	t.Parallel() // the store named conformance is this test's alone
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

func TestJanitorRemovesAbandonedLocks(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store := memory.NewStore(&memory.Options{Now: clock.Now, SweepInterval: time.Millisecond})
	l := store.Lock()
	defer l.Close()
	for i := range 100 {
		if ok, err := l.TryAcquireLock(t.Context(), fmt.Sprint(i), time.Second); !ok || err != nil {
			t.Fatalf("TryAcquireLock = %v, %v", ok, err)
		}
	}
	if n := store.Len(); n != 100 {
		t.Fatalf("Len() = %d; want 100", n)
	}
	clock.Advance(time.Second)
	// The janitor runs on its own goroutine, every millisecond: wait for it.
	for deadline := time.Now().Add(10 * time.Second); store.Len() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("Len() = %d 10s after every lock expired; want 0: the janitor did not sweep", store.Len())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPrivateAndNamedStores(t *testing.T) {
	ctx := t.Context()
	a, b := memory.New(nil), memory.New(nil)
	defer a.Close()
	defer b.Close()
	if ok, _ := a.TryAcquireLock(ctx, "k", time.Minute); !ok {
		t.Fatal("a could not acquire")
	}
	if ok, _ := b.TryAcquireLock(ctx, "k", time.Minute); !ok {
		t.Fatal("memory.New stores are not private: b could not acquire a key held in another store")
	}
	// Names of their own, so that the test can run more than once in a process.
	shared, other := fmt.Sprint("memory://shared-", time.Now().UnixNano()), fmt.Sprint("memory://other-", time.Now().UnixNano())
	x, _ := lock.Open(ctx, shared)
	y, _ := lock.Open(ctx, shared)
	z, _ := lock.Open(ctx, other)
	for _, l := range []lock.Lock{x, y, z} {
		defer l.Close()
	}
	if ok, _ := x.TryAcquireLock(ctx, "k", time.Minute); !ok {
		t.Fatal("x could not acquire")
	}
	if ok, _ := y.TryAcquireLock(ctx, "k", time.Minute); ok {
		t.Fatalf("%s twice: y acquired a key x holds; want one shared store per name", shared)
	}
	if ok, _ := z.TryAcquireLock(ctx, "k", time.Minute); !ok {
		t.Fatalf("%s shares a store with %s", other, shared)
	}
}

// TestPrefix checks that Lock values with different prefixes on one store
// do not collide, and that the shared parameters are accepted by URL.
func TestPrefix(t *testing.T) {
	ctx := t.Context()
	a, err := lock.Open(ctx, "memory://prefixed?prefix=a:&retry_interval=10ms&max_ttl=1h&close_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := lock.Open(ctx, "memory://prefixed?prefix=b:")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ok, _ := a.TryAcquireLock(ctx, "k", time.Minute); !ok {
		t.Fatal("a could not acquire k")
	}
	if ok, _ := b.TryAcquireLock(ctx, "k", time.Minute); !ok {
		t.Fatal("b could not acquire k, held under another prefix")
	}
	if _, err := a.TryAcquireLock(ctx, "j", 2*time.Hour); !errors.Is(err, lock.ErrInvalidTTL) {
		t.Fatalf("TryAcquireLock with a ttl above max_ttl=1h = %v; want ErrInvalidTTL", err)
	}
	store := memory.NewStore(&memory.Options{Prefix: "p:"})
	c, d := store.Lock(), memory.NewStore(nil).Lock()
	defer c.Close()
	defer d.Close()
	if ok, _ := c.TryAcquireLock(ctx, "k", time.Minute); !ok {
		t.Fatal("c could not acquire k")
	}
}

func TestOpenURLErrors(t *testing.T) {
	for _, raw := range []string{"memory://x:1", "memory://x/path", "memory:opaque", "memory://u:p@x", "memory://x?retry_timeout=-1", "memory://x?size=1", "memory://x?retry_timeout=5;", "memory://x?retry_timeout=0"} {
		if l, err := lock.Open(t.Context(), raw); err == nil {
			l.Close()
			t.Errorf("Open(%q) succeeded; want an error", raw)
		}
	}
}

// TestReleaseWakesWaiter checks that a wait wakes on a release, not at its
// next poll: with a 10s retry interval, the first poll comes 312ms or more
// after the wait starts.
func TestReleaseWakesWaiter(t *testing.T) {
	store := memory.NewStore(&memory.Options{Options: lock.Options{RetryInterval: 10 * time.Second}})
	holder, waiter := store.Lock(), store.Lock()
	defer holder.Close()
	defer waiter.Close()
	ctx := t.Context()
	if ok, _ := holder.TryAcquireLock(ctx, "k", time.Minute); !ok {
		t.Fatal("holder could not acquire")
	}
	done := make(chan time.Time, 1)
	go func() {
		if err := waiter.AcquireLock(ctx, "k", time.Minute, time.Minute); err != nil {
			t.Error(err)
		}
		done <- time.Now()
	}()
	time.Sleep(50 * time.Millisecond) // let the wait begin; if it has not, it acquires at once
	released := time.Now()
	if err := holder.ReleaseLock(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if d := (<-done).Sub(released); d > 200*time.Millisecond {
		t.Fatalf("waiter acquired %v after the release; want it woken by the release, well before its first poll", d)
	}
}
