package locktest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/driver"
)

// The subtests of this file call the backend's primitives directly, through
// lock.Driver, where the Lock's own checks would hide a backend's mistake:
// the Lock refuses an Extend past its lease's local deadline, makes each
// attempt with a fresh token, and falls back to polling when a Watcher
// stays silent. Each names the rule of package driver that it checks.

// wakeWithin is how soon after a release a Watcher must close the channel
// of a wait on the key. A wait polls anyway: a Watcher slower than this
// saves nothing.
const wakeWithin = time.Second

// backend returns the backend of a new Lock value on the shared store.
func (e *env) backend() driver.Backend {
	e.Helper()
	return e.driverOf(e.lock())
}

// driverOf returns the backend under l, a Lock value of Harness.New.
func (e *env) driverOf(l lock.Lock) driver.Backend {
	e.Helper()
	b := lock.Driver(l)
	if b == nil {
		e.Fatal("lock.Driver of the Lock that Harness.New returned is nil: make the Lock with lock.New")
	}
	return b
}

// token returns a token as the Lock makes them: 130 random bits.
func token() string { return rand.Text() }

// call runs one primitive and fails the test on an error.
func (e *env) call(what string, f func(ctx context.Context) (bool, error)) bool {
	e.Helper()
	ok, err := f(e.ctx)
	if err != nil {
		e.Fatalf("%s: error %v", what, err)
	}
	return ok
}

func (e *env) acquire(b driver.Backend, key, tok string, ttl time.Duration) bool {
	e.Helper()
	return e.call(fmt.Sprintf("Acquire(%q, %v)", short(key), ttl), func(ctx context.Context) (bool, error) {
		return b.Acquire(ctx, key, tok, ttl)
	})
}

func (e *env) release(b driver.Backend, key, tok string) bool {
	e.Helper()
	return e.call(fmt.Sprintf("Release(%q)", short(key)), func(ctx context.Context) (bool, error) {
		return b.Release(ctx, key, tok)
	})
}

func (e *env) extend(b driver.Backend, key, tok string, ttl time.Duration) bool {
	e.Helper()
	return e.call(fmt.Sprintf("Extend(%q, %v)", short(key), ttl), func(ctx context.Context) (bool, error) {
		return b.Extend(ctx, key, tok, ttl)
	})
}

// mustHold asserts that tok holds key: a foreign Acquire is refused, and
// Release of tok deletes it (which ends the check's lock).
func (e *env) mustHold(b driver.Backend, key, tok, why string) {
	e.Helper()
	if e.acquire(b, key, token(), longTTL) {
		e.Fatalf("Acquire(%q) by another token = true; want false: %s", short(key), why)
	}
	if !e.release(b, key, tok) {
		e.Fatalf("Release(%q) by its holder = false; want true: %s", short(key), why)
	}
}

// mustBeFree asserts that key is free: another token acquires it (and then
// releases it).
func (e *env) mustBeFree(b driver.Backend, key, why string) {
	e.Helper()
	tok := token()
	if !e.acquire(b, key, tok, longTTL) {
		e.Fatalf("Acquire(%q) = false; want true: %s", short(key), why)
	}
	e.release(b, key, tok)
}

// testPrimitiveOwner: Release and Extend act only for the token that holds
// the key, and Acquire refuses a held key to any other token.
func testPrimitiveOwner(e *env) {
	b := e.backend()
	key, holder, other := e.key(), token(), token()
	if !e.acquire(b, key, holder, longTTL) {
		e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
	}
	if e.acquire(b, key, other, longTTL) {
		e.Fatalf("Acquire(%q) by another token while held = true; want false", short(key))
	}
	if e.extend(b, key, other, longTTL) {
		e.Fatalf("Extend(%q) by a token that does not hold it = true; want false: an Extend must check the owner, or a holder whose lock was deleted and taken by another extends the new owner's lock and believes it holds it", short(key))
	}
	if e.release(b, key, other) {
		e.Fatalf("Release(%q) by a token that does not hold it = true; want false", short(key))
	}
	if !e.extend(b, key, holder, longTTL) {
		e.Fatalf("Extend(%q) by its holder = false; want true", short(key))
	}
	e.mustHold(b, key, holder, "calls by another token must leave the lock to its holder")
	if e.release(b, key, holder) {
		e.Fatalf("second Release(%q) by its holder = true; want false: it was released", short(key))
	}
}

// testPrimitiveMissing: Release and Extend of a key that stores nothing
// report false and store nothing: an Extend must not re-create a lock that
// was released or deleted.
func testPrimitiveMissing(e *env) {
	b := e.backend()
	key, tok := e.key(), token()
	if e.release(b, key, tok) {
		e.Fatalf("Release(%q) of a key never acquired = true; want false", short(key))
	}
	if e.extend(b, key, tok, longTTL) {
		e.Fatalf("Extend(%q) of a key never acquired = true; want false", short(key))
	}
	e.mustBeFree(b, key, "an Extend that failed must not store the key")

	if !e.acquire(b, key, tok, longTTL) {
		e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
	}
	if e.h.Delete != nil {
		e.h.Delete(e.T, key)
	} else if !e.release(b, key, tok) {
		e.Fatalf("Release(%q) by its holder = false; want true", short(key))
	}
	if e.extend(b, key, tok, longTTL) {
		e.Fatalf("Extend(%q) by a holder whose lock is gone = true; want false: Extend must not re-create a lock", short(key))
	}
	e.mustBeFree(b, key, "an Extend after the lock was gone must not re-create it")
}

// testPrimitiveExpired: once a lock's ttl has passed, its token is no
// longer its holder's: Release and Extend report false (a store that
// expires lazily must check the time), and another token acquires the key.
func testPrimitiveExpired(e *env) {
	b := e.backend()
	key, tok := e.key(), token()
	ttl := e.ttl()
	if !e.acquire(b, key, tok, ttl) {
		e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
	}
	e.expire(ttl)
	if e.extend(b, key, tok, longTTL) {
		e.Fatalf("Extend(%q) after its %v ttl had passed = true; want false: the lock had expired", short(key), ttl)
	}
	if e.release(b, key, tok) {
		e.Fatalf("Release(%q) after its %v ttl had passed = true; want false: the lock had expired", short(key), ttl)
	}
	e.mustBeFree(b, key, "its lock expired")
}

// testPrimitiveResend: an Acquire resent with the token that already holds
// the key (the first try landed, its reply was lost) leaves the lock to
// that token, and acquires nothing twice: it reports true or false, and
// where it gives a fence, the fence of the acquisition that landed.
func testPrimitiveResend(e *env) {
	b := e.backend()
	key, tok := e.key(), token()
	fencer, fenced := b.(driver.Fencer)
	var first uint64
	if fenced {
		ok, f, err := fencer.AcquireFenced(e.ctx, key, tok, longTTL)
		if err != nil || !ok || f == 0 {
			e.Fatalf("AcquireFenced(%q) of a free key = %v, %d, %v; want true, a fence above 0", short(key), ok, f, err)
		}
		first = f
		ok, f, err = fencer.AcquireFenced(e.ctx, key, tok, longTTL)
		if err != nil {
			e.Fatalf("AcquireFenced(%q) resent with its holder's token: error %v", short(key), err)
		}
		if ok && f != first {
			e.Fatalf("AcquireFenced(%q) resent with its holder's token = true, fence %d; want the fence of the acquisition that landed, %d", short(key), f, first)
		}
	} else {
		if !e.acquire(b, key, tok, longTTL) {
			e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
		}
		e.acquire(b, key, tok, longTTL)
	}
	e.mustHold(b, key, tok, "a resent Acquire must leave the lock to its token")
	if fenced {
		ok, f, err := fencer.AcquireFenced(e.ctx, key, token(), longTTL)
		if err != nil || !ok || f <= first {
			e.Fatalf("AcquireFenced(%q) after a release = %v, %d, %v; want true and a fence above %d", short(key), ok, f, err, first)
		}
	}
}

// testPrimitiveTTLNotShortened: a ttl with a fraction of a second is
// neither rounded nor truncated down, by Acquire or by Extend: the lock is
// held until its whole ttl has passed.
func testPrimitiveTTLNotShortened(e *env) {
	b := e.backend()
	const ttl = 1900 * time.Millisecond // a backend that counts whole seconds keeps 2s or more
	check := e.ttlCheck(b)
	key, tok := e.key(), token()
	start := time.Now()
	if !e.acquire(b, key, tok, ttl) {
		e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
	}
	check(key, tok, ttl, start, "Acquire")

	key, tok = e.key(), token()
	if !e.acquire(b, key, tok, time.Second) {
		e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
	}
	start = time.Now()
	if !e.extend(b, key, tok, ttl) {
		e.Fatalf("Extend(%q) by its holder = false; want true", short(key))
	}
	check(key, tok, ttl, start, "Extend")

	if e.h.Advance != nil {
		// Below a millisecond too, on a clock the test moves: 1.5ms is
		// not 1ms.
		const fine = 1500 * time.Microsecond
		key, tok = e.key(), token()
		if !e.acquire(b, key, tok, fine) {
			e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
		}
		e.h.Advance(fine - time.Microsecond)
		if e.acquire(b, key, token(), longTTL) {
			e.Fatalf("Acquire(%q) by another token %v after its holder's Acquire with ttl %v = true; want false: the ttl was shortened", short(key), fine-time.Microsecond, fine)
		}
		e.release(b, key, tok)
	}
}

// ttlCheck returns a check that key, given ttl by a call that began at
// start, is still held by tok near the end of ttl.
func (e *env) ttlCheck(b driver.Backend) func(key, tok string, ttl time.Duration, start time.Time, by string) {
	return func(key, tok string, ttl time.Duration, start time.Time, by string) {
		e.Helper()
		at := ttl - ttl/5 // past any whole second below ttl
		if e.h.Advance != nil {
			e.h.Advance(ttl - time.Millisecond)
			at = ttl - time.Millisecond
		} else {
			time.Sleep(time.Until(start.Add(at)))
		}
		began := time.Now()
		ok := e.acquire(b, key, token(), longTTL)
		if ok && (e.h.Advance != nil || began.Sub(start) < ttl) {
			e.Fatalf("Acquire(%q) by another token %v after its holder's %s with ttl %v = true; want false: the ttl was shortened", short(key), at, by, ttl)
		}
		if !ok {
			e.release(b, key, tok)
		}
	}
}

// testPrimitiveWatch: a Watcher wakes a wait on a key at its release, soon
// (a Watcher that never wakes leaves every hand-off to polling). A Watch
// made just before the release may miss it, while a subscription is set
// up: a wait calls Watch again before each attempt, and the second must
// wake.
func testPrimitiveWatch(e *env) {
	b := e.backend()
	if _, ok := b.(driver.Watcher); !ok {
		e.Skip("the backend is not a driver.Watcher")
	}
	if !e.wakes(b, b, e.key(), "") {
		e.Skip("the backend's Watch returned nil: it cannot watch this store now (see driver.Watcher)")
	}
}

// wakes checks that a Watch of key through watcher, a driver.Watcher, wakes
// at a release of key through holder, by the second watch of the key at
// the latest (see testPrimitiveWatch); why, when not empty, tells the
// failure's reader why it must. It reports false, having checked nothing,
// if Watch returns nil.
func (e *env) wakes(holder, watcher driver.Backend, key, why string) bool {
	e.Helper()
	w := watcher.(driver.Watcher)
	for round := 1; ; round++ {
		tok := token()
		if !e.acquire(holder, key, tok, longTTL) {
			e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
		}
		ch := w.Watch(key)
		if ch == nil {
			e.release(holder, key, tok)
			return false
		}
		if r := ttlReporter(watcher); r != nil {
			// A wait's attempt, refused: a TTLReporter may wake only
			// the waits that made one (see driver.Watcher).
			if ok, _, err := r(e.ctx, key, token(), longTTL); ok || err != nil {
				e.Fatalf("AcquireOrTTL(%q) of a held key = %v, %v; want false%s", short(key), ok, err, why)
			}
		}
		released := time.Now()
		if !e.release(holder, key, tok) {
			e.Fatalf("Release(%q) by its holder = false; want true", short(key))
		}
		wait := wakeWithin
		if round == 1 {
			wait = wakeWithin / 10 // a miss is allowed: no need to wait it out
		}
		select {
		case <-ch:
			return true
		case <-time.After(wait):
			if round == 2 {
				e.Fatalf("Watch(%q)'s channel still open %v after the key's release, on the second watch of the key; want it closed at the release%s", short(key), time.Since(released).Round(time.Millisecond), why)
			}
		}
	}
}

// testPrimitiveDoneContext: a primitive called with a ctx already done
// answers, or fails with an error that matches the ctx's error or
// lock.ErrUnavailable (the outcome unknown); any other error would be
// taken for the store's answer.
func testPrimitiveDoneContext(e *env) {
	b := e.backend()
	held, tok := e.key(), token()
	if !e.acquire(b, held, tok, longTTL) {
		e.Fatalf("Acquire(%q) of a free key = false; want true", short(held))
	}
	cancelled, cancel := context.WithCancel(e.ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
	defer cancel2()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"cancelled", cancelled, context.Canceled}, {"past its deadline", expired, context.DeadlineExceeded}} {
		check := func(call string, err error) {
			e.Helper()
			if err != nil && !errors.Is(err, c.want) && !errors.Is(err, lock.ErrUnavailable) {
				e.Fatalf("%s with a ctx %s: error %v; want an answer, or an error that matches %v or lock.ErrUnavailable", call, c.name, err, c.want)
			}
		}
		free := e.key()
		ok, err := b.Acquire(c.ctx, free, tok, longTTL)
		check("Acquire of a free key", err)
		if ok {
			e.release(b, free, tok)
		}
		_, err = b.Acquire(c.ctx, held, token(), longTTL)
		check("Acquire of a held key", err)
		_, err = b.Extend(c.ctx, held, token(), longTTL)
		check("Extend by another token", err)
		_, err = b.Release(c.ctx, held, token())
		check("Release by another token", err)
		if f, ok := b.(driver.Fencer); ok {
			_, _, err = f.AcquireFenced(c.ctx, held, token(), longTTL)
			check("AcquireFenced of a held key", err)
		}
		if r := ttlReporter(b); r != nil {
			_, _, err = r(c.ctx, held, token(), longTTL)
			check("AcquireOrTTL of a held key", err)
		}
	}
	e.mustHold(b, held, tok, "calls by other tokens, with a done ctx, must leave the lock to its holder")
}

// ttlReporter returns b's AcquireOrTTL, or AcquireFencedOrTTL checked to
// give a fence with every acquisition, or nil.
func ttlReporter(b driver.Backend) func(ctx context.Context, key, token string, ttl time.Duration) (bool, time.Duration, error) {
	if r, ok := b.(driver.FencedTTLReporter); ok {
		return func(ctx context.Context, key, token string, ttl time.Duration) (bool, time.Duration, error) {
			ok, fence, left, err := r.AcquireFencedOrTTL(ctx, key, token, ttl)
			if err == nil && ok && fence == 0 {
				err = fmt.Errorf("AcquireFencedOrTTL(%q) acquired with fence 0", short(key))
			}
			return ok, left, err
		}
	}
	if r, ok := b.(driver.TTLReporter); ok {
		return r.AcquireOrTTL
	}
	return nil
}

// testPrimitiveTTLReporter: a refused AcquireOrTTL (or
// AcquireFencedOrTTL) tells how long the holder's lock has left (or 0),
// never more than its ttl allows; a free key is acquired.
func testPrimitiveTTLReporter(e *env) {
	b := e.backend()
	acquireOrTTL := ttlReporter(b)
	if acquireOrTTL == nil {
		e.Skip("the backend is not a driver.TTLReporter or driver.FencedTTLReporter")
	}
	key, holder, other := e.key(), token(), token()
	const ttl = time.Minute
	if !e.acquire(b, key, holder, ttl) {
		e.Fatalf("Acquire(%q) of a free key = false; want true", short(key))
	}
	ok, left, err := acquireOrTTL(e.ctx, key, other, ttl)
	if err != nil || ok {
		e.Fatalf("AcquireOrTTL(%q) of a held key = %v, %v, %v; want false", short(key), ok, left, err)
	}
	if left < 0 || left > ttl+e.h.Granularity {
		e.Fatalf("AcquireOrTTL(%q) of a key held for %v says %v left; want between 0 and %v", short(key), ttl, left, ttl+e.h.Granularity)
	}
	e.mustHold(b, key, holder, "a refused AcquireOrTTL must leave the lock to its holder")
	ok, _, err = acquireOrTTL(e.ctx, key, other, ttl)
	if err != nil || !ok {
		e.Fatalf("AcquireOrTTL(%q) of a free key = %v, %v; want true", short(key), ok, err)
	}
	e.mustHold(b, key, other, "AcquireOrTTL acquired it")
}

// testPrimitiveBatch: ExtendBatch answers each element as Extend would:
// true for its holder, false for a token that does not hold its key or a
// key that stores nothing, without touching those keys.
func testPrimitiveBatch(e *env) {
	b := e.backend()
	be, ok := b.(driver.BatchExtender)
	if !ok {
		e.Skip("the backend is not a driver.BatchExtender")
	}
	mine, theirs, gone := e.key(), e.key(), e.key()
	tok, other, stale := token(), token(), token()
	for _, k := range []string{mine, theirs} {
		t := tok
		if k == theirs {
			t = other
		}
		if !e.acquire(b, k, t, longTTL) {
			e.Fatalf("Acquire(%q) of a free key = false; want true", short(k))
		}
	}
	batch := []driver.Extension{
		{Key: mine, Token: tok, TTL: longTTL},
		{Key: theirs, Token: stale, TTL: longTTL},
		{Key: gone, Token: stale, TTL: longTTL},
		{Key: theirs, Token: other, TTL: longTTL},
	}
	be.ExtendBatch(e.ctx, batch)
	for i, want := range []bool{true, false, false, true} {
		x := batch[i]
		if x.Err != nil || x.OK != want {
			e.Fatalf("ExtendBatch element %d (key %q, %s) = %v, %v; want %v", i, short(x.Key), []string{"its holder", "another token", "a key that stores nothing", "its holder"}[i], x.OK, x.Err, want)
		}
	}
	e.mustHold(b, mine, tok, "ExtendBatch extended it")
	e.mustHold(b, theirs, other, "ExtendBatch by another token must leave the lock to its holder")
	e.mustBeFree(b, gone, "ExtendBatch must not create a key that stored nothing")
}
