package lock

import (
	"context"
	"errors"
	"time"
)

// Do runs fn while holding key: it waits to acquire key for ttl (until ctx
// is done), keeps the lock alive while fn runs (extending it every ttl/3),
// and releases it when fn returns, or panics (the panic then goes on).
//
// fn's ctx is cancelled when the lock is lost; its [context.Cause] then
// matches ErrNotHeld (and ErrClosed if l was closed). [LeaseFromContext]
// returns the lease from that ctx. Do returns fn's error, joined with the
// cause of the loss if the lock was lost while fn ran, and with the error of
// the release if it failed. When the wait ends without the lock, fn is not
// called and Do returns Acquire's error, which matches ErrNotAcquired.
func Do(ctx context.Context, l Lock, key string, ttl time.Duration, fn func(ctx context.Context) error) error {
	s, err := l.Acquire(ctx, key, ttl)
	if err != nil {
		return err
	}
	return run(ctx, s, fn)
}

// TryDo is Do for work that at most one process should run and that others
// skip, such as a scheduled job: it makes one attempt to acquire key and,
// when the key is held, returns an error matching ErrNotAcquired at once,
// without calling fn.
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
