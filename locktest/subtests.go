package locktest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distlock/lock"
)

var subtests = []struct {
	name string
	fn   func(e *env)
}{
	{"Exclusive", testExclusive},
	{"ReleaseThenAcquire", testReleaseThenAcquire},
	{"KeysIndependent", testKeysIndependent},
	{"OneWinner", testOneWinner},
	{"Counter", testCounter},
	{"Expiry", testExpiry},
	{"ReleaseByNonOwner", testReleaseByNonOwner},
	{"ReleaseDoesNotStealNewOwner", testReleaseDoesNotStealNewOwner},
	{"ExtendKeepsLock", testExtendKeepsLock},
	{"LeaseReleaseTwice", testLeaseReleaseTwice},
	{"AcquireWaitsForRelease", testAcquireWaitsForRelease},
	{"AcquireTimeout", testAcquireTimeout},
	{"AcquireCancel", testAcquireCancel},
	{"AcquireTriesOnce", testAcquireTriesOnce},
	{"DoneContext", testDoneContext},
	{"UnusualKeys", testUnusualKeys},
	{"InvalidArguments", testInvalidArguments},
	{"Closed", testClosed},
	{"CloseWakesWait", testCloseWakesWait},
	{"KeepAliveOutlivesTTL", testKeepAliveOutlivesTTL},
	{"KeepAliveLoss", testKeepAliveLoss},
	{"KeepAliveStopsOnRelease", testKeepAliveStopsOnRelease},
	{"HoldWatch", testHoldWatch},
	{"Do", testDo},
	{"DoCancelsOnLoss", testDoCancelsOnLoss},
	{"Fencing", testFencing},
	{"FixtureTryAcquireLock", testFixtureTryAcquireLock},
	{"FixtureAcquireLock", testFixtureAcquireLock},
	{"FixtureReleaseLock", testFixtureReleaseLock},
	{"PrimitiveOwner", testPrimitiveOwner},
	{"PrimitiveMissing", testPrimitiveMissing},
	{"PrimitiveExpired", testPrimitiveExpired},
	{"PrimitiveResend", testPrimitiveResend},
	{"PrimitiveTTLNotShortened", testPrimitiveTTLNotShortened},
	{"PrimitiveWatch", testPrimitiveWatch},
	{"PrimitiveDoneContext", testPrimitiveDoneContext},
	{"PrimitiveTTLReporter", testPrimitiveTTLReporter},
	{"PrimitiveBatch", testPrimitiveBatch},
	{"Scope", testScope},
}

// testExclusive: a held key is refused to every other attempt, this Lock
// value's included, through both APIs.
func testExclusive(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	e.mustTry(a, key, longTTL)
	e.mustNotTry(b, key, "held by another Lock value")
	e.mustNotTry(a, key, "held by this Lock value: locks are not re-entrant")
	if s, err := b.TryAcquire(e.ctx, key, longTTL); !errors.Is(err, lock.ErrNotAcquired) || s != nil {
		e.Fatalf("TryAcquire(%q) = %v, %v; want nil, ErrNotAcquired", key, s, err)
	}
	e.mustRelease(a, key)
}

// testReleaseThenAcquire: a released key is free at once, for anyone.
func testReleaseThenAcquire(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	for range 3 {
		e.mustTry(a, key, longTTL)
		e.mustRelease(a, key)
		s, err := b.TryAcquire(e.ctx, key, longTTL)
		if err != nil {
			e.Fatalf("TryAcquire(%q) after release = %v; want a lease", key, err)
		}
		if s.Key() != key || len(s.Token()) < 22 {
			e.Fatalf("lease Key() = %q, Token() = %q; want %q and a token of >= 128 bits", s.Key(), s.Token(), key)
		}
		if err := s.Release(e.ctx); err != nil {
			e.Fatalf("Lease.Release() = %v; want nil", err)
		}
	}
}

// testKeysIndependent: locks on different keys, even similar ones, do not
// interfere.
func testKeysIndependent(e *env) {
	a, b := e.lock(), e.lock()
	base := e.key()
	keys := []string{base, base + "x", base + " ", strings.ToUpper(base) + "X", base + "\x00"}
	for _, k := range keys {
		e.mustTry(a, k, longTTL)
	}
	for _, k := range keys {
		e.mustNotTry(b, k, "held by another Lock value")
	}
	e.mustRelease(a, keys[0])
	e.mustTry(b, keys[0], longTTL)
	for _, k := range keys[1:] {
		e.mustNotTry(b, k, "still held after another key was released")
	}
}

// testOneWinner: many goroutines over several Lock values race for one key;
// exactly one wins each round.
func testOneWinner(e *env) {
	const goroutines, rounds = 16, 10
	ls := e.locks(4)
	for range rounds {
		key := e.key()
		var (
			wins   atomic.Int32
			winner atomic.Value
			wg     sync.WaitGroup
			start  = make(chan struct{})
			errs   = make(chan error, goroutines)
		)
		for g := range goroutines {
			wg.Go(func() {
				l := ls[g%len(ls)]
				<-start
				ok, err := l.TryAcquireLock(e.ctx, key, longTTL)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					wins.Add(1)
					winner.Store(l)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			e.Fatalf("TryAcquireLock(%q) error: %v", key, err)
		}
		if n := wins.Load(); n != 1 {
			e.Fatalf("%d goroutines raced for %q: %d won; want exactly 1", goroutines, key, n)
		}
		e.mustRelease(winner.Load().(lock.Lock), key)
	}
}

// testCounter: a read-modify-write inside the lock, by many goroutines over
// several Lock values, loses no update.
func testCounter(e *env) {
	const goroutines, each = 8, 12
	ls := e.locks(3)
	key := e.key()
	var (
		counter atomic.Int64 // loaded and stored separately: only the lock makes the increment atomic
		inside  atomic.Int32
		wg      sync.WaitGroup
		once    sync.Once
		failed  error
	)
	fail := func(err error) { once.Do(func() { failed = err }) }
	for g := range goroutines {
		wg.Go(func() {
			l := ls[g%len(ls)]
			for range each {
				s, err := l.Acquire(e.ctx, key, longTTL)
				if err != nil {
					fail(err)
					return
				}
				if n := inside.Add(1); n != 1 {
					fail(errors.New("two owners inside the lock at once"))
				}
				v := counter.Load()
				time.Sleep(50 * time.Microsecond) // widen the window a lost update needs
				counter.Store(v + 1)
				inside.Add(-1)
				if err := s.Release(e.ctx); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if failed != nil {
		e.Fatalf("counter under lock %q: %v", key, failed)
	}
	if got, want := counter.Load(), int64(goroutines*each); got != want {
		e.Fatalf("counter incremented under the lock = %d; want %d", got, want)
	}
}

// testExpiry: an abandoned lock frees its key after ttl, never before.
func testExpiry(e *env) {
	a, b := e.lock(), e.lock()
	key, ttl := e.key(), e.ttl()
	held := time.Now() // the ttl counts from the start of the acquiring call
	e.mustTry(a, key, ttl)
	s := e.takeOver(b, key, ttl, held)
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Lease.Release() of the new owner = %v; want nil", err)
	}
}

// testReleaseByNonOwner: releasing a lock someone else holds does nothing.
func testReleaseByNonOwner(e *env) {
	a, b, c := e.lock(), e.lock(), e.lock()
	key := e.key()
	e.mustTry(a, key, longTTL)
	if err := b.ReleaseLock(e.ctx, key); err != nil {
		e.Fatalf("ReleaseLock(%q) by a non-owner = %v; want nil (no-op)", key, err)
	}
	e.mustNotTry(c, key, "a non-owner's release must not free it")
	e.mustRelease(a, key)
	e.mustTry(c, key, longTTL)
}

// testReleaseDoesNotStealNewOwner: a holder whose lock expired and was
// taken by another cannot release or extend the new owner's lock.
func testReleaseDoesNotStealNewOwner(e *env) {
	a, b, c := e.lock(), e.lock(), e.lock()
	key, ttl := e.key(), e.ttl()
	// The keyed lock first: it expires no later than the lease's, which the
	// take-over below waits for.
	e.mustTry(a, key+"/keyed", ttl)
	held := time.Now()
	old, err := a.TryAcquire(e.ctx, key, ttl)
	if err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	s := e.takeOver(b, key, ttl, held)
	defer s.Release(e.ctx)
	e.mustTry(b, key+"/keyed", longTTL)

	if err := old.Extend(e.ctx, longTTL); !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("stale Lease.Extend() = %v; want ErrNotHeld", err)
	}
	if err := old.Release(e.ctx); !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("stale Lease.Release() = %v; want ErrNotHeld", err)
	}
	if err := a.ReleaseLock(e.ctx, key+"/keyed"); !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("stale ReleaseLock(%q) = %v; want ErrNotHeld", key+"/keyed", err)
	}
	e.mustNotTry(c, key, "the new owner's lock survives a stale release")
	e.mustNotTry(c, key+"/keyed", "the new owner's lock survives a stale release")
	if err := s.Extend(e.ctx, longTTL); err != nil {
		e.Fatalf("new owner's Lease.Extend() = %v; want nil", err)
	}
}

// testExtendKeepsLock: an extended lock outlives its first ttl.
func testExtendKeepsLock(e *env) {
	a, b := e.lock(), e.lock()
	key, ttl := e.key(), e.ttl()
	s, err := a.TryAcquire(e.ctx, key, ttl)
	if err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	if err := s.Extend(e.ctx, longTTL); err != nil {
		e.Fatalf("Lease.Extend() = %v; want nil", err)
	}
	e.expire(ttl)
	e.mustNotTry(b, key, "extended past its first ttl")
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Lease.Release() after Extend = %v; want nil", err)
	}
	e.mustTry(b, key, longTTL)
}

// testLeaseReleaseTwice: a lease releases once; later calls say ErrNotHeld
// and touch nothing.
func testLeaseReleaseTwice(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	s, err := a.TryAcquire(e.ctx, key, longTTL)
	if err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Lease.Release() = %v; want nil", err)
	}
	e.mustTry(b, key, longTTL)
	if err := s.Release(e.ctx); !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("second Lease.Release() = %v; want ErrNotHeld", err)
	}
	if err := s.Extend(e.ctx, longTTL); !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("Lease.Extend() after Release = %v; want ErrNotHeld", err)
	}
	e.mustNotTry(a, key, "held by the new owner")
}

// testAcquireWaitsForRelease: a wait succeeds soon after the holder
// releases, through both APIs.
func testAcquireWaitsForRelease(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	// Slack for a loaded machine, on top of the one retry interval allowed.
	slack := e.h.RetryInterval + time.Second
	for _, api := range []string{"AcquireLock", "Acquire"} {
		e.mustTry(a, key, longTTL)
		type result struct {
			release func() error
			err     error
		}
		done := make(chan result, 1)
		go func() {
			if api == "AcquireLock" {
				err := b.AcquireLock(e.ctx, key, longTTL, 30*time.Second)
				done <- result{func() error { return b.ReleaseLock(e.ctx, key) }, err}
				return
			}
			s, err := b.Acquire(e.ctx, key, longTTL)
			done <- result{func() error { return s.Release(e.ctx) }, err}
		}()
		select {
		case r := <-done:
			e.Fatalf("%s(%q) returned %v while the key was held; want it to wait", api, key, r.err)
		case <-time.After(2 * e.h.RetryInterval):
		}
		e.mustRelease(a, key)
		released := time.Now()
		select {
		case r := <-done:
			if r.err != nil {
				e.Fatalf("%s(%q) after release = %v; want nil", api, key, r.err)
			}
			if d := time.Since(released); d > slack {
				e.Fatalf("%s(%q) acquired %v after the release; want within the retry interval %v", api, key, d, e.h.RetryInterval)
			}
			if err := r.release(); err != nil {
				e.Fatalf("release after %s(%q) = %v; want nil", api, key, err)
			}
		case <-time.After(slack):
			e.Fatalf("%s(%q) still waiting %v after the release; want it to acquire within the retry interval %v", api, key, slack, e.h.RetryInterval)
		}
	}
}

// testAcquireTimeout: a wait on a held key ends at its timeout, or at the
// deadline of its ctx, with an error matching ErrNotAcquired and
// context.DeadlineExceeded, within one retry interval.
func testAcquireTimeout(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	e.mustTry(a, key, longTTL)
	timeout := 3 * e.h.RetryInterval
	late := e.h.RetryInterval + 500*time.Millisecond // one retry interval, plus slack for a loaded machine

	start := time.Now()
	err := b.AcquireLock(e.ctx, key, longTTL, timeout)
	took := time.Since(start)
	if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
		e.Fatalf("AcquireLock(%q, timeout %v) on a held key = %v; want ErrNotAcquired and context.DeadlineExceeded", key, timeout, err)
	}
	if took < timeout || took > timeout+late {
		e.Fatalf("AcquireLock(%q, timeout %v) returned after %v; want between %v and %v", key, timeout, took, timeout, timeout+late)
	}

	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	start = time.Now()
	s, err := b.Acquire(ctx, key, longTTL)
	took = time.Since(start)
	if s != nil || !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
		e.Fatalf("Acquire(%q) with a %v ctx deadline = %v, %v; want nil, ErrNotAcquired and context.DeadlineExceeded", key, timeout, s, err)
	}
	if took > timeout+late {
		e.Fatalf("Acquire(%q) with a %v ctx deadline returned after %v; want by %v", key, timeout, took, timeout+late)
	}
	e.mustNotTry(b, key, "the failed waits must not disturb the holder")
	e.mustRelease(a, key)
	e.mustTry(b, key, longTTL) // and hold nothing themselves
}

// testAcquireCancel: cancelling ctx ends a wait promptly, with an error
// matching ErrNotAcquired and context.Canceled.
func testAcquireCancel(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	e.mustTry(a, key, longTTL)
	for _, api := range []string{"AcquireLock", "Acquire"} {
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() {
			if api == "AcquireLock" {
				done <- b.AcquireLock(ctx, key, longTTL, time.Hour)
				return
			}
			_, err := b.Acquire(ctx, key, longTTL)
			done <- err
		}()
		time.Sleep(e.h.RetryInterval) // let the wait start; cancelling before it is fine too
		cancel()
		cancelled := time.Now()
		late := e.h.RetryInterval + time.Second
		select {
		case err := <-done:
			if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.Canceled) {
				e.Fatalf("%s(%q) after cancel = %v; want ErrNotAcquired and context.Canceled", api, key, err)
			}
			if d := time.Since(cancelled); d > late {
				e.Fatalf("%s(%q) returned %v after cancel; want within %v", api, key, d, late)
			}
		case <-time.After(late):
			e.Fatalf("%s(%q) still waiting %v after cancel", api, key, late)
		}
	}
	e.mustRelease(a, key)
}

// testAcquireTriesOnce: a wait with no time left still makes one attempt.
func testAcquireTriesOnce(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	for _, timeout := range []time.Duration{0, -time.Second} {
		if err := a.AcquireLock(e.ctx, key, longTTL, timeout); err != nil {
			e.Fatalf("AcquireLock(%q, timeout %v) on a free key = %v; want nil", key, timeout, err)
		}
		if err := b.AcquireLock(e.ctx, key, longTTL, timeout); !errors.Is(err, lock.ErrNotAcquired) || errors.Is(err, context.DeadlineExceeded) {
			e.Fatalf("AcquireLock(%q, timeout %v) on a held key = %v; want ErrNotAcquired, without a deadline", key, timeout, err)
		}
		e.mustRelease(a, key)
	}
}

// unusualKeys are keys that break naive backends: protocol delimiters,
// injection attempts, non-ASCII, invalid UTF-8, and long keys.
func unusualKeys(base string) []string {
	long := strings.Repeat("k", 10<<10)
	return []string{
		base + " with spaces",
		base + "\r\nset injected 0 0 1\r\nx",
		base + "\n",
		base + "\r",
		base + "\t\v\f\x00\x7f",
		base + " ключ 🔒 鍵",
		base + "\xff\xfe\xc0",
		base + "#",
		base + "%",
		"#" + base,
		"%" + base,
		base + strings.Repeat("a", 250-len(base)),
		base + strings.Repeat("a", 251-len(base)),
		base + long,
		base + long + "!",
		base + "/" + long,
	}
}

// testUnusualKeys: every non-empty string is a key of its own.
func testUnusualKeys(e *env) {
	a, b := e.lock(), e.lock()
	keys := unusualKeys(e.key())
	for _, k := range keys {
		e.mustTry(a, k, longTTL)
	}
	for _, k := range keys {
		e.mustNotTry(b, k, "held by another Lock value")
	}
	for _, k := range keys {
		e.mustRelease(a, k)
		s, err := b.TryAcquire(e.ctx, k, longTTL)
		if err != nil {
			e.Fatalf("TryAcquire(%q) after release = %v; want a lease", short(k), err)
		}
		if s.Key() != k {
			e.Fatalf("Lease.Key() = %q; want %q", short(s.Key()), short(k))
		}
		if err := s.Release(e.ctx); err != nil {
			e.Fatalf("Lease.Release() of %q = %v; want nil", short(k), err)
		}
	}
}

// testInvalidArguments: bad input returns the sentinels and changes nothing;
// the longest ttl accepted is the harness's MaxTTL, and it holds the lock.
func testInvalidArguments(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	ttls := []time.Duration{0, -time.Nanosecond, -time.Hour, 30, lock.MinTTL - 1, e.h.MaxTTL + time.Second, 100 * 365 * 24 * time.Hour, 1<<63 - 1}
	for _, ttl := range ttls {
		if ok, err := a.TryAcquireLock(e.ctx, key, ttl); ok || !errors.Is(err, lock.ErrInvalidTTL) {
			e.Fatalf("TryAcquireLock(%q, %v) = %v, %v; want false, ErrInvalidTTL", key, ttl, ok, err)
		}
		if err := a.AcquireLock(e.ctx, key, ttl, time.Second); !errors.Is(err, lock.ErrInvalidTTL) {
			e.Fatalf("AcquireLock(%q, %v) = %v; want ErrInvalidTTL", key, ttl, err)
		}
		if s, err := a.TryAcquire(e.ctx, key, ttl); s != nil || !errors.Is(err, lock.ErrInvalidTTL) {
			e.Fatalf("TryAcquire(%q, %v) = %v, %v; want nil, ErrInvalidTTL", key, ttl, s, err)
		}
		if s, err := a.Acquire(e.ctx, key, ttl); s != nil || !errors.Is(err, lock.ErrInvalidTTL) {
			e.Fatalf("Acquire(%q, %v) = %v, %v; want nil, ErrInvalidTTL", key, ttl, s, err)
		}
	}
	if ok, err := a.TryAcquireLock(e.ctx, "", longTTL); ok || !errors.Is(err, lock.ErrInvalidKey) {
		e.Fatalf(`TryAcquireLock("") = %v, %v; want false, ErrInvalidKey`, ok, err)
	}
	if err := a.AcquireLock(e.ctx, "", longTTL, time.Second); !errors.Is(err, lock.ErrInvalidKey) {
		e.Fatalf(`AcquireLock("") = %v; want ErrInvalidKey`, err)
	}
	if s, err := a.TryAcquire(e.ctx, "", longTTL); s != nil || !errors.Is(err, lock.ErrInvalidKey) {
		e.Fatalf(`TryAcquire("") = %v, %v; want nil, ErrInvalidKey`, s, err)
	}
	if s, err := a.Acquire(e.ctx, "", longTTL); s != nil || !errors.Is(err, lock.ErrInvalidKey) {
		e.Fatalf(`Acquire("") = %v, %v; want nil, ErrInvalidKey`, s, err)
	}
	if err := a.ReleaseLock(e.ctx, ""); !errors.Is(err, lock.ErrInvalidKey) {
		e.Fatalf(`ReleaseLock("") = %v; want ErrInvalidKey`, err)
	}
	// None of that took the key; a lease survives a bad Extend.
	s, err := a.TryAcquire(e.ctx, key, longTTL)
	if err != nil {
		e.Fatalf("TryAcquire(%q) after invalid calls = %v; want a lease", key, err)
	}
	for _, ttl := range ttls {
		if err := s.Extend(e.ctx, ttl); !errors.Is(err, lock.ErrInvalidTTL) {
			e.Fatalf("Lease.Extend(%v) = %v; want ErrInvalidTTL", ttl, err)
		}
	}
	e.mustNotTry(b, key, "a rejected Extend must leave the lease held")
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Lease.Release() after rejected Extends = %v; want nil", err)
	}
	s, err = a.TryAcquire(e.ctx, key, e.h.MaxTTL)
	if err != nil {
		e.Fatalf("TryAcquire(%q, MaxTTL %v) = %v; want a lease", key, e.h.MaxTTL, err)
	}
	e.mustNotTry(b, key, "held for the longest ttl")
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Lease.Release() of a lock held for MaxTTL = %v; want nil", err)
	}
}

// testClosed: Close releases what the Lock value holds and ends its
// leases; after it, every call returns ErrClosed; Close is idempotent.
func testClosed(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	s, err := a.TryAcquire(e.ctx, key, longTTL)
	if err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	if err := s.KeepAlive(e.ctx, 0); err != nil {
		e.Fatalf("KeepAlive() = %v; want nil", err)
	}
	e.mustTry(a, key+"/keyed", longTTL)
	if err := a.Close(); err != nil {
		e.Fatalf("Close() = %v; want nil", err)
	}
	if err := a.Close(); err != nil {
		e.Fatalf("second Close() = %v; want nil", err)
	}
	other := e.key()
	if ok, err := a.TryAcquireLock(e.ctx, other, longTTL); ok || !errors.Is(err, lock.ErrClosed) {
		e.Fatalf("TryAcquireLock after Close = %v, %v; want false, ErrClosed", ok, err)
	}
	if err := a.AcquireLock(e.ctx, other, longTTL, time.Second); !errors.Is(err, lock.ErrClosed) {
		e.Fatalf("AcquireLock after Close = %v; want ErrClosed", err)
	}
	if s, err := a.TryAcquire(e.ctx, other, longTTL); s != nil || !errors.Is(err, lock.ErrClosed) {
		e.Fatalf("TryAcquire after Close = %v, %v; want nil, ErrClosed", s, err)
	}
	if s, err := a.Acquire(e.ctx, other, longTTL); s != nil || !errors.Is(err, lock.ErrClosed) {
		e.Fatalf("Acquire after Close = %v, %v; want nil, ErrClosed", s, err)
	}
	if err := a.ReleaseLock(e.ctx, key+"/keyed"); !errors.Is(err, lock.ErrClosed) {
		e.Fatalf("ReleaseLock after Close = %v; want ErrClosed", err)
	}
	if err := s.Extend(e.ctx, longTTL); !errors.Is(err, lock.ErrClosed) {
		e.Fatalf("Lease.Extend after Close = %v; want ErrClosed", err)
	}
	if err := s.Release(e.ctx); !errors.Is(err, lock.ErrClosed) {
		e.Fatalf("Lease.Release after Close = %v; want ErrClosed", err)
	}
	select {
	case <-s.Done():
	default:
		e.Fatal("Done() of a lease not closed by its Lock's Close")
	}
	if err := s.Err(); !errors.Is(err, lock.ErrClosed) || !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("Err() of a lease released by Close = %v; want ErrClosed and ErrNotHeld", err)
	}
	e.mustTry(b, key, longTTL) // Close released them
	e.mustTry(b, key+"/keyed", longTTL)
	e.mustTry(b, other, longTTL)
}

// testCloseWakesWait: Close ends a wait of the same Lock value with
// ErrClosed.
func testCloseWakesWait(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	e.mustTry(a, key, longTTL)
	done := make(chan error, 1)
	go func() { done <- b.AcquireLock(e.ctx, key, longTTL, time.Hour) }()
	time.Sleep(e.h.RetryInterval) // let the wait start; closing before it is fine too
	if err := b.Close(); err != nil {
		e.Fatalf("Close() = %v; want nil", err)
	}
	late := e.h.RetryInterval + time.Second
	select {
	case err := <-done:
		if !errors.Is(err, lock.ErrClosed) {
			e.Fatalf("AcquireLock(%q) ended by Close = %v; want ErrClosed", key, err)
		}
	case <-time.After(late):
		e.Fatalf("AcquireLock(%q) still waiting %v after Close", key, late)
	}
	e.mustRelease(a, key)
}

// The fixture of the pip-services MemcachedLock, case by case.

// testFixtureTryAcquireLock: try, try again (false), release, try.
func testFixtureTryAcquireLock(e *env) {
	l := e.lock()
	key := e.key()
	e.mustTry(l, key, 3*time.Second)
	e.mustNotTry(l, key, "second try of a held key")
	e.mustRelease(l, key)
	e.mustTry(l, key, 3*time.Second)
	e.mustRelease(l, key)
}

// testFixtureAcquireLock: acquire, a second acquire times out, release,
// acquire.
func testFixtureAcquireLock(e *env) {
	l := e.lock()
	key := e.key()
	if err := l.AcquireLock(e.ctx, key, 3*time.Second, time.Second); err != nil {
		e.Fatalf("AcquireLock(%q) = %v; want nil", key, err)
	}
	if err := l.AcquireLock(e.ctx, key, 3*time.Second, 2*e.h.RetryInterval); !errors.Is(err, lock.ErrNotAcquired) {
		e.Fatalf("second AcquireLock(%q) = %v; want ErrNotAcquired", key, err)
	}
	e.mustRelease(l, key)
	if err := l.AcquireLock(e.ctx, key, 3*time.Second, time.Second); err != nil {
		e.Fatalf("AcquireLock(%q) after release = %v; want nil", key, err)
	}
	e.mustRelease(l, key)
}

// testFixtureReleaseLock: try, release, release again (nil).
func testFixtureReleaseLock(e *env) {
	l := e.lock()
	key := e.key()
	e.mustTry(l, key, 3*time.Second)
	e.mustRelease(l, key)
	e.mustRelease(l, key)
}

// testDoneContext: a ctx already done makes no attempt, on every backend
// alike; a one-attempt AcquireLock on a held key says ErrNotAcquired, not
// a deadline that was never set.
func testDoneContext(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	done, cancel := context.WithCancel(e.ctx)
	cancel()
	if ok, err := a.TryAcquireLock(done, key, longTTL); ok || !errors.Is(err, context.Canceled) {
		e.Fatalf("TryAcquireLock(%q) with a done ctx = %v, %v; want false, context.Canceled", key, ok, err)
	}
	if s, err := a.TryAcquire(done, key, longTTL); s != nil || !errors.Is(err, context.Canceled) {
		e.Fatalf("TryAcquire(%q) with a done ctx = %v, %v; want nil, context.Canceled", key, s, err)
	}
	for _, timeout := range []time.Duration{0, time.Second} {
		if err := a.AcquireLock(done, key, longTTL, timeout); !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.Canceled) {
			e.Fatalf("AcquireLock(%q, timeout %v) with a done ctx = %v; want ErrNotAcquired and context.Canceled", key, timeout, err)
		}
	}
	if s, err := a.Acquire(done, key, longTTL); s != nil || !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.Canceled) {
		e.Fatalf("Acquire(%q) with a done ctx = %v, %v; want nil, ErrNotAcquired and context.Canceled", key, s, err)
	}
	s, err := b.TryAcquire(e.ctx, key, longTTL) // nothing was acquired
	if err != nil {
		e.Fatalf("TryAcquire(%q) after calls with a done ctx = %v; want the key", key, err)
	}
	// Nor released or extended: the lease still holds the key.
	if err := s.Release(done); !errors.Is(err, context.Canceled) {
		e.Fatalf("Release of %q with a done ctx = %v; want context.Canceled", key, err)
	}
	if err := s.Extend(done, longTTL); !errors.Is(err, context.Canceled) {
		e.Fatalf("Extend of %q with a done ctx = %v; want context.Canceled", key, err)
	}
	if ok, err := a.TryAcquireLock(e.ctx, key, longTTL); ok || err != nil {
		e.Fatalf("TryAcquireLock(%q) after a Release with a done ctx = %v, %v; want false: the lease still holds it", key, ok, err)
	}
	if err := s.Err(); err != nil {
		e.Fatalf("lease of %q after a Release with a done ctx: Err() = %v; want nil", key, err)
	}
	err = a.AcquireLock(e.ctx, key, longTTL, 0)
	if !errors.Is(err, lock.ErrNotAcquired) || errors.Is(err, context.DeadlineExceeded) {
		e.Fatalf("AcquireLock(%q, timeout 0) on a held key = %v; want ErrNotAcquired without a deadline", key, err)
	}
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Release of %q = %v", key, err)
	}
}
