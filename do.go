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
	s, err := l.Acquire(ctx, key, ttl)
	if err != nil {
		return err
	}
	return run(ctx, s, fn)
}

// TryDo is Do with one attempt, for work that others skip while it runs:
// it returns ErrNotAcquired, without calling fn, if key is held.
func TryDo(ctx context.Context, l Lock, key string, ttl time.Duration, fn func(ctx context.Context) error) error {
	s, err := l.TryAcquire(ctx, key, ttl)
	if err != nil {
		return err
	}
	return run(ctx, s, fn)
}

type leaseKey struct{}

// LeaseFromContext returns the lease under which [Do] or [TryDo] runs the
// function that received ctx, or nil.
func LeaseFromContext(ctx context.Context) *Lease {
	s, _ := ctx.Value(leaseKey{}).(*Lease)
	return s
}

func run(ctx context.Context, s *Lease, fn func(ctx context.Context) error) (err error) {
	fctx, cancel := context.WithCancelCause(context.WithValue(ctx, leaseKey{}, s))
	defer cancel(nil)
	s.afterEnd(cancel)
	if kerr := s.KeepAlive(fctx, 0); kerr != nil {
		cancel(kerr) // the lease has ended already
	}
	defer func() {
		lost := s.Err() // before the release: did the lease end while fn ran?
		rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), s.l.closeTimeout)
		defer stop()
		rerr := s.Release(rctx)
		switch {
		case lost != nil:
			err = errors.Join(err, lost)
		case rerr != nil:
			err = errors.Join(err, rerr)
		}
	}()
	return fn(fctx)
}
