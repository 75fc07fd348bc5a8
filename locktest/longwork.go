package locktest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/driver"
)

// keepTTL is the ttl of the leases the long-work subtests keep alive: long
// enough that a keep-alive extending every third of it rides out a loaded
// machine, on real time and on a store clock the test moves alike.
func (e *env) keepTTL() time.Duration { return max(e.h.TTL, 1200*time.Millisecond) }

// slack is how late a lease may notice a loss beyond one extend interval,
// on a loaded machine.
const slack = time.Second

// canTakeAway reports whether the harness can make a held lock vanish.
func (e *env) canTakeAway() bool { return e.h.Delete != nil || e.h.Advance != nil }

// takeAway makes the lock on key vanish behind its holder's back: deleted
// where the harness can, or else expired on the store's clock.
func (e *env) takeAway(key string, ttl time.Duration) {
	e.Helper()
	if e.h.Delete != nil {
		e.h.Delete(e.T, key)
		return
	}
	e.h.Advance(ttl + e.h.Granularity + time.Millisecond)
}

// pass lets d and then the harness's Granularity of the lock's time pass:
// real time, and on a store clock the test moves, as much store time too,
// in steps a keep-alive can follow. The Granularity is store time only: on
// a clock the test moves, it is spread over the steps, not slept.
func (e *env) pass(d time.Duration) {
	if e.h.Advance == nil {
		time.Sleep(d + e.h.Granularity)
		return
	}
	step := e.keepTTL() / 3
	steps := int((d + step - 1) / step)
	extra := e.h.Granularity / time.Duration(steps)
	for i := 0; i < steps; i++ {
		time.Sleep(step)
		e.h.Advance(step + extra)
	}
	e.h.Advance(e.h.Granularity - extra*time.Duration(steps))
}

// testKeepAliveOutlivesTTL: a lease kept alive holds its lock for several
// ttls, and is free at once after Release.
func testKeepAliveOutlivesTTL(e *env) {
	a, b := e.lock(), e.lock()
	key, ttl := e.key(), e.keepTTL()
	s, err := a.TryAcquire(e.ctx, key, ttl)
	if err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	// Extending every sixth of the ttl, the lease survives a pause of the
	// process of up to 5/6 of it.
	if err := s.KeepAlive(e.ctx, ttl/6); err != nil {
		e.Fatalf("KeepAlive() = %v; want nil", err)
	}
	e.pass(3 * ttl)
	if err := s.Err(); err != nil {
		e.Fatalf("lease kept alive for 3 ttls: Err() = %v; want nil", err)
	}
	e.mustNotTry(b, key, "its lease is kept alive")
	if d := time.Until(s.Deadline()); d <= 0 || d > ttl {
		e.Fatalf("Deadline() of a lease kept alive is %v away; want within its ttl %v", d, ttl)
	}
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Release() of a lease kept alive = %v; want nil", err)
	}
	select {
	case <-s.Done():
	default:
		e.Fatal("Done() not closed after Release")
	}
	e.mustTry(b, key, longTTL)
	e.mustRelease(b, key)
}

// testKeepAliveLoss: a lease kept alive whose lock vanishes ends within
// one extend interval, with ErrNotHeld, and nothing re-creates the lock.
func testKeepAliveLoss(e *env) {
	if !e.canTakeAway() {
		e.Skip("the harness can neither delete a key nor move the store's clock")
	}
	a, b := e.lock(), e.lock()
	key, ttl := e.key(), e.keepTTL()
	s, err := a.TryAcquire(e.ctx, key, ttl)
	if err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	if err := s.KeepAlive(e.ctx, 0); err != nil {
		e.Fatalf("KeepAlive() = %v; want nil", err)
	}
	e.takeAway(key, ttl)
	lost := time.Now()
	limit := ttl/3 + slack
	select {
	case <-s.Done():
	case <-time.After(limit):
		e.Fatalf("lease whose lock vanished still not Done after %v; want within one extend interval, %v", limit, ttl/3)
	}
	e.Logf("loss noticed after %v", time.Since(lost))
	if err := s.Err(); !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("Err() of a lost lease = %v; want ErrNotHeld", err)
	}
	e.mustTry(b, key, longTTL) // no extend re-created the lock
	if err := s.Extend(e.ctx, ttl); !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("Extend() of a lost lease = %v; want ErrNotHeld", err)
	}
	if err := s.Release(e.ctx); !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("Release() of a lost lease = %v; want ErrNotHeld", err)
	}
	e.mustRelease(b, key) // the new owner's lock was left alone
}

// testKeepAliveStopsOnRelease: after Release, no late extend brings the
// lock back.
func testKeepAliveStopsOnRelease(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	s, err := a.TryAcquire(e.ctx, key, e.keepTTL())
	if err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	const every = 5 * time.Millisecond
	if err := s.KeepAlive(e.ctx, every); err != nil {
		e.Fatalf("KeepAlive() = %v; want nil", err)
	}
	time.Sleep(10 * every)
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Release() = %v; want nil", err)
	}
	time.Sleep(20 * every)
	e.mustTry(b, key, longTTL)
	e.mustRelease(b, key)
}

// testDo: Do runs fn under a lock kept alive, with the lease in its ctx,
// and releases afterwards, also when fn panics; TryDo skips a busy key
// without calling fn.
func testDo(e *env) {
	a, b := e.lock(), e.lock()
	key, ttl := e.key(), e.keepTTL()
	err := lock.Do(e.ctx, a, key, ttl, func(ctx context.Context) error {
		if s := lock.LeaseFromContext(ctx); s == nil || s.Key() != key {
			e.Errorf("LeaseFromContext(fn's ctx) = %v; want the lease of %q", s, key)
		}
		e.pass(2 * ttl)
		e.mustNotTry(b, key, "Do runs under it")
		return ctx.Err()
	})
	if err != nil {
		e.Fatalf("Do(%q) = %v; want nil", key, err)
	}
	e.mustTry(b, key, longTTL) // released after fn returned
	called := false
	err = lock.TryDo(e.ctx, a, key, ttl, func(context.Context) error { called = true; return nil })
	if !errors.Is(err, lock.ErrNotAcquired) || called {
		e.Fatalf("TryDo(%q) on a held key = %v (fn called: %v); want ErrNotAcquired without calling fn", key, err, called)
	}
	e.mustRelease(b, key)

	func() {
		defer func() {
			if r := recover(); r != "fn panicked" {
				e.Fatalf("recovered %v from Do; want fn's panic", r)
			}
		}()
		_ = lock.TryDo(e.ctx, a, key, ttl, func(context.Context) error { panic("fn panicked") })
	}()
	e.mustTry(b, key, longTTL) // released before the panic went on
	e.mustRelease(b, key)
}

// testDoCancelsOnLoss: when the lock vanishes while fn runs, fn's ctx is
// cancelled with a cause matching ErrNotHeld, and Do returns fn's error
// joined with it.
func testDoCancelsOnLoss(e *env) {
	if !e.canTakeAway() {
		e.Skip("the harness can neither delete a key nor move the store's clock")
	}
	a := e.lock()
	key, ttl := e.key(), e.keepTTL()
	fnErr := errors.New("fn stopped")
	var cancelled atomic.Bool
	err := lock.Do(e.ctx, a, key, ttl, func(ctx context.Context) error {
		e.takeAway(key, ttl)
		limit := ttl/3 + slack
		select {
		case <-ctx.Done():
			cancelled.Store(true)
			if cause := context.Cause(ctx); !errors.Is(cause, lock.ErrNotHeld) {
				e.Errorf("context.Cause(fn's ctx) = %v; want ErrNotHeld", cause)
			}
		case <-time.After(limit):
			e.Errorf("fn's ctx not cancelled %v after the lock vanished; want within one extend interval, %v", limit, ttl/3)
		}
		return fnErr
	})
	if !cancelled.Load() {
		return
	}
	if !errors.Is(err, fnErr) || !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("Do(%q) with the lock lost = %v; want fn's error and ErrNotHeld", key, err)
	}
}

// testFencing: where the backend gives fencing tokens, they increase
// strictly across the acquisitions of a key, by any Lock value, through
// both ways to wait, and across expiry.
func testFencing(e *env) {
	a, b := e.lock(), e.lock()
	key := e.key()
	s, err := a.TryAcquire(e.ctx, key, longTTL)
	if err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	last, fenced := s.Fence()
	if !fenced {
		if last != 0 {
			e.Fatalf("Fence() = %d, false; want 0 when the backend gives no fencing tokens", last)
		}
		_ = s.Release(e.ctx)
		e.Skip("the backend gives no fencing tokens")
	}
	next := func(s *lock.Lease, how string) {
		e.Helper()
		f, ok := s.Fence()
		if !ok || f <= last {
			e.Fatalf("Fence() of the acquisition %s = %d, %v; want more than the last, %d", how, f, ok, last)
		}
		last = f
	}
	for i, l := range []lock.Lock{b, a, b} {
		if err := s.Release(e.ctx); err != nil {
			e.Fatalf("Release() = %v", err)
		}
		if i%2 == 0 {
			s, err = l.Acquire(e.ctx, key, longTTL)
		} else {
			s, err = l.TryAcquire(e.ctx, key, longTTL)
		}
		if err != nil {
			e.Fatalf("acquiring %q again = %v; want a lease", key, err)
		}
		next(s, "after a release")
	}
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Release() = %v", err)
	}
	ttl := e.ttl()
	held := time.Now()
	if s, err = a.TryAcquire(e.ctx, key, ttl); err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	next(s, "after a release")
	s = e.takeOver(b, key, ttl, held)
	next(s, "after an expiry")
	_ = s.Release(e.ctx)
}

// testHoldWatch: on a backend that is a driver.HoldWatcher, a lease whose
// lock is deleted behind its back ends within a second, long before its
// next extend; its own Release ends it as released, not lost.
func testHoldWatch(e *env) {
	if _, ok := lock.Driver(e.lock()).(driver.HoldWatcher); !ok {
		e.Skip("the backend is not a driver.HoldWatcher")
	}
	if e.h.Delete == nil {
		e.Skip("the harness cannot delete a key")
	}
	l := e.lock()
	key, ttl := e.key(), time.Minute
	s, err := l.TryAcquire(e.ctx, key, ttl)
	if err != nil {
		e.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	if err := s.KeepAlive(e.ctx, 0); err != nil { // its next extend comes after 20s
		e.Fatalf("KeepAlive() = %v; want nil", err)
	}
	e.h.Delete(e.T, key)
	deleted := time.Now()
	select {
	case <-s.Done():
	case <-time.After(holdWatchWithin):
		e.Fatalf("lease whose lock was deleted still not Done after %v; want within %v (the backend is a HoldWatcher)", holdWatchWithin, holdWatchWithin)
	}
	e.Logf("deletion noticed after %v", time.Since(deleted))
	if err := s.Err(); !errors.Is(err, lock.ErrNotHeld) {
		e.Fatalf("Err() of a lost lease = %v; want ErrNotHeld", err)
	}

	s, err = l.TryAcquire(e.ctx, key, ttl)
	if err != nil {
		e.Fatalf("TryAcquire(%q) after the deletion = %v; want a lease", key, err)
	}
	done := s.Done()
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Release() = %v; want nil (the backend's report of the release's own delete must not make it a loss)", err)
	}
	<-done
	if err := s.Err(); !errors.Is(err, lock.ErrNotHeld) || !strings.Contains(err.Error(), "released") {
		e.Fatalf("Err() after Release = %v; want the lease released, not lost", err)
	}
}

// holdWatchWithin is how soon a HoldWatcher's lease must end after its
// lock is deleted.
const holdWatchWithin = time.Second
