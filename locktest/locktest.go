// Package locktest is the conformance suite of lock backends: every backend,
// ours or a contributor's, calls [Run] from its tests.
//
//	func TestConformance(t *testing.T) {
//		store := mybackend.NewStore()
//		locktest.Run(t, locktest.Harness{
//			New: func(t *testing.T) lock.Lock {
//				l, err := mybackend.New(store, nil)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return l
//			},
//		})
//	}
//
// The suite checks the Lock from outside, and the backend's primitives
// directly, through [lock.Driver], where the Lock's own checks would hide a
// backend's mistake (the subtests named Primitive…): an Extend or Release
// by a token that does not hold the key, of a key released, deleted or
// expired; an Acquire resent with the holder's token; a ttl with a fraction
// of a second; a Watcher's wake-up; errors with a ctx already done; the
// optional TTLReporter and BatchExtender; and a Scoper's scope, which two
// backends report alike only if a key held through one is held through the
// other (the subtest Scope). New must return Lock values made by lock.New.
//
// Each subtest uses its own random keys, so several packages can run the
// suite against one real server at once, and its own deadline, so a hung
// backend fails the test instead of hanging it.
package locktest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/distlock/lock"
)

// Harness describes the backend under test. Zero values of the optional
// fields are safe defaults.
type Harness struct {
	// New returns a new Lock value on the store under test. Every Lock value
	// it returns shares one store, as separate processes share a server. The
	// suite closes each one. Required.
	New func(t *testing.T) lock.Lock

	// Advance moves the store's clock forward by d, for stores with a clock
	// the test controls (an in-process store, miniredis). Nil means the store
	// runs on real time: the suite then sleeps through expiries, and runs its
	// subtests in parallel.
	Advance func(d time.Duration)

	// Delete, when set, deletes key from the store behind its holder's
	// back (as an eviction, a flush or an operator would), so the suite can
	// check that a lease notices. Nil means the suite lets the lock expire
	// on the store's clock instead (with Advance), or skips those checks.
	Delete func(t *testing.T, key string)

	// Granularity is how much longer than its ttl a lock may live, such as
	// 3s for memcached. The suite expects a lock to be acquirable by
	// another owner once ttl+Granularity has passed.
	Granularity time.Duration

	// TTL is the ttl of the locks that the suite lets expire on real time.
	// Zero means 300ms. Ignored when Advance is set.
	TTL time.Duration

	// RetryInterval is the retry interval of the Lock values New returns.
	// Zero means lock.DefaultRetryInterval.
	RetryInterval time.Duration

	// Timeout bounds each subtest. Zero means one minute.
	Timeout time.Duration

	// MaxTTL is the longest ttl the Lock values New returns accept. Zero
	// means lock.DefaultMaxTTL, which every backend accepts by default.
	MaxTTL time.Duration
}

// Run runs the conformance suite against the backend that h describes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("locktest: Harness.New is nil")
	}
	if h.TTL <= 0 {
		h.TTL = 300 * time.Millisecond
	}
	if h.MaxTTL <= 0 {
		h.MaxTTL = lock.DefaultMaxTTL
	}
	if h.RetryInterval <= 0 {
		h.RetryInterval = lock.DefaultRetryInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = time.Minute
	}
	run := "locktest:" + rand.Text()[:10] + ":"
	for _, st := range subtests {
		t.Run(st.name, func(t *testing.T) {
			if h.Advance == nil {
				t.Parallel()
			}
			ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
			defer cancel()
			// A backend that ignores ctx and hangs must still fail the run.
			watchdog := time.AfterFunc(h.Timeout+10*time.Second, func() {
				panic(fmt.Sprintf("locktest: %s still running %v after its deadline: the backend hangs", t.Name(), 10*time.Second))
			})
			defer watchdog.Stop()
			st.fn(&env{T: t, h: h, ctx: ctx, prefix: run + st.name + ":"})
		})
	}
}

// env is what a subtest works with.
type env struct {
	*testing.T
	h      Harness
	ctx    context.Context
	prefix string
	n      int
}

// key returns a fresh key for this subtest.
func (e *env) key() string {
	e.n++
	return fmt.Sprintf("%s%d", e.prefix, e.n)
}

// lock returns a new Lock value on the shared store, closed at the end of
// the subtest.
func (e *env) lock() lock.Lock {
	l := e.h.New(e.T)
	if l == nil {
		e.Fatal("Harness.New returned nil")
	}
	e.Cleanup(func() { _ = l.Close() })
	return l
}

// locks returns n Lock values on the shared store.
func (e *env) locks(n int) []lock.Lock {
	ls := make([]lock.Lock, n)
	for i := range ls {
		ls[i] = e.lock()
	}
	return ls
}

// ttl is the ttl for locks the subtest lets expire.
func (e *env) ttl() time.Duration {
	if e.h.Advance != nil {
		return 10 * time.Second
	}
	return e.h.TTL
}

// longTTL is a ttl that does not expire during a subtest, and that does not
// leave a real server holding keys long after.
const longTTL = 2 * time.Minute

// try calls l.TryAcquireLock and fails the test on an error.
func (e *env) try(l lock.Lock, key string, ttl time.Duration) bool {
	e.Helper()
	ok, err := l.TryAcquireLock(e.ctx, key, ttl)
	if err != nil {
		e.Fatalf("TryAcquireLock(%q, %v) error: %v", short(key), ttl, err)
	}
	return ok
}

// mustTry asserts that l acquires key.
func (e *env) mustTry(l lock.Lock, key string, ttl time.Duration) {
	e.Helper()
	if !e.try(l, key, ttl) {
		e.Fatalf("TryAcquireLock(%q) = false; want true (key is free)", short(key))
	}
}

// mustNotTry asserts that l cannot acquire key.
func (e *env) mustNotTry(l lock.Lock, key string, why string) {
	e.Helper()
	if e.try(l, key, longTTL) {
		e.Fatalf("TryAcquireLock(%q) = true; want false (%s)", short(key), why)
	}
}

// mustRelease asserts that l releases key.
func (e *env) mustRelease(l lock.Lock, key string) {
	e.Helper()
	if err := l.ReleaseLock(e.ctx, key); err != nil {
		e.Fatalf("ReleaseLock(%q) = %v; want nil", short(key), err)
	}
}

// expire lets a lock of ttl, acquired just before, expire for sure.
func (e *env) expire(ttl time.Duration) {
	if e.h.Advance != nil {
		e.h.Advance(ttl + e.h.Granularity + time.Millisecond)
		return
	}
	time.Sleep(ttl + e.h.Granularity + 50*time.Millisecond)
}

// takeOver makes l acquire key once a lock of ttl on it, acquired by a call
// that began at held, expires, and returns l's lease. On real time it polls,
// and checks that the lock is not acquirable before ttl has passed since
// held.
func (e *env) takeOver(l lock.Lock, key string, ttl time.Duration, held time.Time) *lock.Lease {
	e.Helper()
	if e.h.Advance != nil {
		e.h.Advance(ttl - ttl/10)
		if _, err := l.TryAcquire(e.ctx, key, longTTL); !errors.Is(err, lock.ErrNotAcquired) {
			e.Fatalf("TryAcquire(%q) at %v of a %v ttl = %v; want ErrNotAcquired", short(key), ttl-ttl/10, ttl, err)
		}
		e.h.Advance(ttl/10 + e.h.Granularity + time.Millisecond)
		s, err := l.TryAcquire(e.ctx, key, longTTL)
		if err != nil {
			e.Fatalf("TryAcquire(%q) after ttl %v + granularity %v = %v; want a lease", short(key), ttl, e.h.Granularity, err)
		}
		return s
	}
	limit := ttl + e.h.Granularity + time.Second
	for {
		s, err := l.TryAcquire(e.ctx, key, longTTL)
		since := time.Since(held)
		switch {
		case err == nil && since < ttl:
			e.Fatalf("TryAcquire(%q) succeeded %v after a %v lock was acquired; want ErrNotAcquired before its ttl", short(key), since, ttl)
		case err == nil:
			return s
		case !isNotAcquired(err):
			e.Fatalf("TryAcquire(%q) = %v; want nil or ErrNotAcquired", short(key), err)
		case since > limit:
			e.Fatalf("TryAcquire(%q) still fails %v after a %v lock was acquired; want success after ttl + granularity %v", short(key), since, ttl, e.h.Granularity)
		}
		time.Sleep(min(ttl/20, 50*time.Millisecond))
	}
}

// short abbreviates long keys in messages.
func short(key string) string {
	if len(key) > 80 {
		return fmt.Sprintf("%s…(%d bytes)", key[:60], len(key))
	}
	return key
}

func isNotAcquired(err error) bool { return errors.Is(err, lock.ErrNotAcquired) }
