package faulttest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distlock/lock"
)

// An op is a call made under a fault. run applies the fault, makes the
// call, heals the fault, checks the outcome against the server and returns
// the line of the table, with free set when the op measured it itself.
type op struct {
	name string
	run  func(fx *Fixture, f fault) figure
}

var ops = []op{
	{"TryAcquire", opTryAcquire},
	{"Acquire", opAcquire},
	{"AcquireLock", opAcquireLock},
	{"Release", opRelease},
	{"Extend", opExtend},
	{"Do", opDo},
}

// opTryAcquire: TryAcquire with no deadline, on a free key.
func opTryAcquire(fx *Fixture, f fault) figure {
	t := fx.t
	heal := f.start(fx)
	begin := time.Now()
	s, err := fx.L.TryAcquire(context.Background(), fx.Key, TTL)
	took := time.Since(begin)
	heal()
	healed := time.Now()
	switch {
	case err == nil && fx.Stored(fx.Key) != s.Token():
		t.Errorf("false acquire: TryAcquire = a lease, and the server holds %q, not its token", fx.Stored(fx.Key))
	case errors.Is(err, lock.ErrNotAcquired):
		t.Errorf("TryAcquire of a free key = %v; want a lease or an error in transit", err)
	}
	if s != nil {
		fx.release(s, healed)
	}
	return figure{op: "TryAcquire", err: err, took: took, bound: fx.b.TryAcquireBound, outcome: outcome(err), healed: healed, free: -1}
}

// opAcquire: Acquire with a ctx deadline, on a free key.
func opAcquire(fx *Fixture, f fault) figure {
	t := fx.t
	const deadline = 400 * time.Millisecond
	heal := f.start(fx)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	begin := time.Now()
	s, err := fx.L.Acquire(ctx, fx.Key, TTL)
	took := time.Since(begin)
	cancel()
	heal()
	healed := time.Now()
	switch {
	case err == nil && fx.Stored(fx.Key) != s.Token():
		t.Errorf("false acquire: Acquire = a lease, and the server holds %q, not its token", fx.Stored(fx.Key))
	case err != nil && (!errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded)):
		t.Errorf("Acquire under a fault = %v; want a lease, or ErrNotAcquired and DeadlineExceeded", err)
	}
	if s != nil {
		fx.release(s, healed)
	}
	return figure{op: "Acquire", err: err, took: took, bound: deadline, outcome: outcome(err), healed: healed, free: -1}
}

// opAcquireLock: AcquireLock with a timeout and no ctx deadline, on a free
// key. It has no token to show: the key is the test's alone, so a lock
// reported acquired must be stored.
func opAcquireLock(fx *Fixture, f fault) figure {
	t := fx.t
	const timeout = 400 * time.Millisecond
	heal := f.start(fx)
	begin := time.Now()
	err := fx.L.AcquireLock(context.Background(), fx.Key, TTL, timeout)
	took := time.Since(begin)
	heal()
	healed := time.Now()
	switch {
	case err == nil && fx.Stored(fx.Key) == "":
		t.Errorf("false acquire: AcquireLock = nil, and the server holds nothing")
	case err != nil && (!errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded)):
		t.Errorf("AcquireLock under a fault = %v; want nil, or ErrNotAcquired and DeadlineExceeded", err)
	}
	if err == nil {
		rerr, _ := fx.healedCall(healed, func(ctx context.Context) error { return fx.L.ReleaseLock(ctx, fx.Key) })
		if rerr != nil {
			t.Errorf("ReleaseLock once healed = %v; want nil", rerr)
		}
	}
	// A timed wait returns within one retry interval of its timeout.
	return figure{op: "AcquireLock", err: err, took: took, bound: timeout + lock.DefaultRetryInterval, outcome: outcome(err), healed: healed, free: -1}
}

// opRelease: Release with no deadline, of a lease held.
func opRelease(fx *Fixture, f fault) figure {
	t := fx.t
	bound := fx.b.releaseBound()
	s := MustAcquire(t, fx.L, fx.Key)
	heal := f.start(fx)
	begin := time.Now()
	err := s.Release(context.Background())
	took := time.Since(begin)
	heal()
	healed := time.Now()
	left := fx.Stored(fx.Key)
	switch {
	case err == nil && left == s.Token():
		t.Errorf("false release: Release = nil, and the server still holds the token")
	case errors.Is(err, lock.ErrNotHeld) && left == s.Token():
		t.Errorf("false loss: Release = %v, and the server still holds the token", err)
	case errors.Is(err, lock.ErrNotHeld) && !f.lossy:
		t.Errorf("false loss: Release = %v before the ttl, with no data lost; want nil (its earlier try released it)", err)
	case err != nil && !errors.Is(err, lock.ErrNotHeld):
		// Healed now: the same lease releases, and a try that landed
		// is no loss.
		rerr, _ := fx.healedCall(healed, s.Release)
		if rerr != nil && !(f.lossy && errors.Is(rerr, lock.ErrNotHeld)) {
			t.Errorf("Release after %v, once healed = %v; want nil", err, rerr)
		}
	}
	return figure{op: "Release", err: err, took: took, bound: bound, outcome: outcome(err), healed: healed, free: -1}
}

// opExtend: Extend with a ctx deadline under the timeout, of a lease held.
func opExtend(fx *Fixture, f fault) figure {
	t := fx.t
	const deadline = 150 * time.Millisecond
	s := MustAcquire(t, fx.L, fx.Key)
	heal := f.start(fx)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	begin := time.Now()
	err := s.Extend(ctx, 3*TTL)
	took := time.Since(begin)
	cancel()
	heal()
	healed := time.Now()
	left := fx.Stored(fx.Key)
	switch {
	case err == nil && left != s.Token():
		t.Errorf("false extend: Extend = nil, and the server holds %q, not the token", left)
	case err == nil && fx.ttl(fx.Key) <= fx.b.AcquiredTTL:
		t.Errorf("false extend: Extend(%v) = nil, and the server's ttl is %v, at most the %v of a lock just acquired",
			3*TTL, fx.ttl(fx.Key), fx.b.AcquiredTTL)
	case errors.Is(err, lock.ErrNotHeld) && left == s.Token():
		t.Errorf("false loss: Extend = %v, and the server still holds the token", err)
	case errors.Is(err, lock.ErrNotHeld) && !f.lossy:
		t.Errorf("false loss: Extend = %v before the ttl, with no data lost", err)
	}
	extend := func(ctx context.Context) error { return s.Extend(ctx, TTL) }
	switch err, _ := fx.healedCall(healed, extend); {
	case f.lossy && !errors.Is(err, lock.ErrNotHeld):
		t.Errorf("Extend of a lease lost to a restart = %v; want ErrNotHeld", err)
	case !f.lossy && err != nil:
		t.Errorf("Extend once healed = %v; want nil", err)
	case !f.lossy:
		fx.release(s, healed)
	}
	return figure{op: "Extend", err: err, took: took, bound: deadline, outcome: outcome(err), healed: healed, free: -1}
}

// opDo: lock.Do, whose keep-alive extends through the fault. While fn's
// ctx lives and the lease's deadline is ahead, the server must hold the
// token (unless the fault lost it); past the deadline, fn's ctx must be
// cancelled. The bound is that of the release when fn returns.
func opDo(fx *Fixture, f fault) figure {
	t := fx.t
	const (
		ttl    = 900 * time.Millisecond // keep-alive every 300ms
		window = 600 * time.Millisecond // the fault's length
	)
	var (
		healed, returned, endedAt time.Time
		cause                     error
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := lock.Do(ctx, fx.L, fx.Key, ttl, func(fctx context.Context) error {
		s := lock.LeaseFromContext(fctx)
		watch := func(until time.Time, lost bool) {
			for time.Now().Before(until) {
				now, deadline, live := time.Now(), s.Deadline(), fctx.Err() == nil
				switch {
				case !live && endedAt.IsZero():
					endedAt, cause = now, context.Cause(fctx)
				case live && now.After(deadline.Add(fx.b.Slack)):
					t.Errorf("fn's ctx still live %v past the lease's deadline", now.Sub(deadline))
					return
				case live && now.Before(deadline) && !lost:
					if got := fx.Stored(fx.Key); got != s.Token() && time.Now().Before(deadline) {
						t.Errorf("false extend: the lease holds until %v from now, and the server holds %q, not its token", deadline.Sub(now), got)
						return
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		heal := f.start(fx)
		watch(time.Now().Add(window), f.lossy)
		heal()
		healed = time.Now()
		watch(healed.Add(ttl), f.lossy)
		if f.lossy && endedAt.IsZero() {
			t.Errorf("lease lost to a restart: fn's ctx still live %v after the heal; want it cancelled", ttl)
		}
		returned = time.Now()
		return nil
	})
	took := time.Since(returned)
	switch {
	case endedAt.IsZero() && err != nil:
		t.Errorf("Do, lease kept throughout = %v; want nil", err)
	case !endedAt.IsZero() && !errors.Is(err, lock.ErrNotHeld):
		t.Errorf("Do, lease ended (%v) = %v; want ErrNotHeld", cause, err)
	case !endedAt.IsZero() && !errors.Is(cause, lock.ErrNotHeld):
		t.Errorf("fn's ctx cause = %v; want ErrNotHeld", cause)
	}
	got := "kept"
	if !endedAt.IsZero() {
		got = fmt.Sprintf("lost %v after heal", endedAt.Sub(healed).Round(time.Millisecond))
	}
	free := fx.waitFree(fx.Key, returned, freeWithin+fx.b.Slack)
	if free < 0 {
		t.Errorf("key still held %v after Do returned", freeWithin+fx.b.Slack)
	}
	// fn waits a ttl after the heal: free and again count from Do's return.
	return figure{op: "Do", took: took, bound: fx.b.releaseBound(), outcome: got, healed: returned, free: free}
}
