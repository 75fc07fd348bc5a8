package locktest

import (
	"fmt"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/driver"
)

// testScope: a driver.Scoper names where its locks live, and the Lock
// values of a process whose backends name the same scope share the queues
// of their waits (a wait queues behind a lease that another of them
// holds). So the scope is not empty and does not change (the Lock reads it
// once, in lock.New), and two backends that report the same scope store
// every key in the same place: a key held through one is refused through
// the other, its holder's token releases it through either, and a wait
// through one wakes at a release through the other. Two Lock values of
// Harness.New that report different scopes share nothing, and are not
// checked further.
func testScope(e *env) {
	la, lb := e.lock(), e.lock()
	a, b := e.driverOf(la), e.driverOf(lb)
	sa, ok := a.(driver.Scoper)
	if !ok {
		e.Skip("the backend is not a driver.Scoper")
	}
	scope := sa.Scope()
	if scope == "" {
		e.Fatal("Scope() = \"\"; want a string that starts with the backend's name and names its store (see driver.Scoper)")
	}
	stable := func(when string) {
		e.Helper()
		for range 3 {
			if got := sa.Scope(); got != scope {
				e.Fatalf("Scope() = %q %s, after %q; want the same at every call: the Lock reads it once, in lock.New", got, when, scope)
			}
		}
	}
	stable("at once")
	other := "none"
	if sb, ok := b.(driver.Scoper); ok {
		other = sb.Scope()
	}
	if other != scope {
		e.Logf("two Lock values of Harness.New report the scopes %q and %q: they share no waits, so there is nothing more to check", scope, other)
		return
	}
	why := fmt.Sprintf(": backends that report the same scope (%q) must store every key in the same place, or a wait through one queues behind a lease held through the other (see driver.Scoper)", scope)

	// The primitives: the Lock values' own checks, and their shared
	// queues, would hide a key kept in two places.
	key, tok := e.key(), token()
	if !e.acquire(a, key, tok, longTTL) {
		e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
	}
	if e.acquire(b, key, token(), longTTL) {
		e.Fatalf("Acquire(%q) through a second backend, while a first backend of its scope holds it = true; want false%s", short(key), why)
	}
	if !e.release(b, key, tok) {
		e.Fatalf("Release(%q) by its holder's token, through a second backend of its scope = false; want true%s", short(key), why)
	}
	e.mustBeFree(a, key, "released through a second backend of its scope")
	if _, ok := b.(driver.Watcher); ok {
		// A nil Watch checks nothing: the Lock polls then.
		e.wakes(a, b, e.key(), fmt.Sprintf(" (the watch was made through another backend of the scope %q, which must store the key in the same place)", scope))
	}

	// The Lock values: a wait through lb queues behind la's lease (taken
	// by a wait, which its queue remembers), and wakes at its release.
	key = e.key()
	s, err := la.Acquire(e.ctx, key, longTTL)
	if err != nil {
		e.Fatalf("Acquire(%q) of a free key = %v; want a lease", short(key), err)
	}
	type result struct {
		s   *lock.Lease
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := lb.Acquire(e.ctx, key, longTTL)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		e.Fatalf("Acquire(%q) through a second Lock value of scope %q returned %v, %v while the first held the key; want it to wait", short(key), scope, r.s, r.err)
	case <-time.After(2 * e.h.RetryInterval):
	}
	if err := s.Release(e.ctx); err != nil {
		e.Fatalf("Lease.Release() of %q = %v; want nil", short(key), err)
	}
	released := time.Now()
	slack := e.h.RetryInterval + time.Second // one retry interval, and a loaded machine's slack
	select {
	case r := <-done:
		if r.err != nil {
			e.Fatalf("Acquire(%q) through a second Lock value of scope %q, after the first released it = %v; want a lease", short(key), scope, r.err)
		}
		if err := r.s.Release(e.ctx); err != nil {
			e.Fatalf("Lease.Release() of %q = %v; want nil", short(key), err)
		}
	case <-time.After(slack):
		e.Fatalf("Acquire(%q) through a second Lock value of scope %q still waiting %v after the first released it; want it to acquire within the retry interval %v", short(key), scope, time.Since(released).Round(time.Millisecond), e.h.RetryInterval)
	}
	stable("after the calls above")
}
