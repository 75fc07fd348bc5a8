package lock

import (
	"context"
	"errors"
	"time"
)

// Do acquires key for ttl, runs fn with the lock kept alive, and releases
// it, even if fn panics. fn's ctx is cancelled if the lock is lost, with a
// [context.Cause] matching ErrNotHeld. Do returns Acquire's error, or fn's
// joined with the loss or the release's error.
func Do(ctx context.Context, l Lock, key string, ttl time.Duration, fn func(ctx context.Context) error) error {
	le, err := l.Acquire(ctx, key, ttl)
	if err != nil {
		return err
	}
	return runUnder(ctx, le, fn)
}

// TryDo is Do with one attempt, for work that others skip while it runs:
// it returns ErrNotAcquired, without calling fn, if key is held.
func TryDo(ctx context.Context, l Lock, key string, ttl time.Duration, fn func(ctx context.Context) error) error {
	le, err := l.TryAcquire(ctx, key, ttl)
	if err != nil {
		return err
	}
	return runUnder(ctx, le, fn)
}

type leaseKey struct{}

// LeaseFromContext returns the lease under which [Do] or [TryDo] runs the
// function that received ctx, or nil.
func LeaseFromContext(ctx context.Context) *Lease {
	le, _ := ctx.Value(leaseKey{}).(*Lease)
	return le
}

// runUnder runs fn under le for Do and TryDo: it keeps le alive while fn
// runs, cancels fn's ctx when le ends, and releases le after fn, with the
// time Close would give the release.
func runUnder(ctx context.Context, le *Lease, fn func(ctx context.Context) error) (err error) {
	fctx, cancel := context.WithCancelCause(context.WithValue(ctx, leaseKey{}, le))
	defer cancel(nil)
	le.afterEnd(cancel)
	if kerr := le.KeepAlive(fctx, 0); kerr != nil {
		cancel(kerr) // the lease has ended already
	}
	defer func() {
		lost := le.Err() // before the release: did the lease end while fn ran?
		rctx, stop := le.locker.withCloseTimeout(context.WithoutCancel(ctx))
		defer stop()
		rerr := le.Release(rctx)
		switch {
		case lost != nil:
			err = errors.Join(err, lost)
		case rerr != nil:
			err = errors.Join(err, rerr)
		}
	}()
	return fn(fctx)
}
