package lock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The waits of Acquire and AcquireLock: attempts until acquired, paused
// by the retry policy's backoff (or the holder's ttl), woken by a Watcher,
// in the queue of their key (queue.go).

// maxTrustedSleep is the longest a wait sleeps on a holder's remaining ttl
// (see driver.TTLReporter) before it looks again, in case the wake-up of a
// release was lost; longer when the retry interval is.
const maxTrustedSleep = time.Second

// wait attempts until acquired, deadline (if not zero) passes, ctx is done or
// the Lock is closed. It makes at least one attempt. When timed, the attempts
// run under a context that ends one retry interval after the deadline (or
// after the start, if later), so that a slow store cannot hold the wait much
// past its timeout. A failure in transit is retried like a held key, with a
// new token; other errors of the store end the wait. Close ends a wait
// between two attempts; an attempt in flight runs to its end, and Close
// waits for it.
func (l *locker) wait(ctx context.Context, key string, ttl time.Duration, deadline time.Time, timed bool) (*Lease, error) {
	if err := l.check(key, ttl); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, l.waitError(ctx, nil) // every backend alike: no attempt
	}
	if !l.enter() {
		return nil, ErrClosed
	}
	defer l.exit()
	wctx := ctx
	if timed {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, later(deadline, time.Now()).Add(l.retry))
		defer cancel()
	}
	var (
		le      = newLease(l, key)
		timer   *time.Timer
		bo      = l.newBackoff()
		lastErr error  // of the last attempt, if it failed in transit
		got     *Lease // the lease acquired
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	w, turn := l.joinQueue(key)
	defer func() { l.leaveQueue(key, w, got) }()
	if turn != nil {
		if err := l.waitTurn(ctx, wctx, turn, deadline); err != nil {
			return nil, err
		}
	}
	if held := l.heldBy(key); held != nil {
		if err := l.waitTurn(ctx, wctx, held.Done(), deadline); err != nil {
			return nil, err
		}
	}
	for {
		var wake <-chan struct{}
		if l.watch != nil {
			wake = l.watch.Watch(key)
		}
		start := time.Now()
		ok, fence, left, err := l.acquireInWait(wctx, key, le.token, ttl)
		if err = l.settleAttempt(ctx, key, le.token, ttl, start, ok, err); err != nil {
			switch {
			case errors.Is(err, ErrClosed):
				return nil, err
			case wctx.Err() != nil:
				// A call cut short ends the wait like its ctx or timeout does.
				return nil, l.waitError(ctx, err)
			case !inTransit(err):
				return nil, err
			}
			// The store may hold token: the next attempt needs its own,
			// or the release of this one could release it.
			lastErr, le = err, newLease(l, key)
		} else {
			lastErr = nil
		}
		if ok {
			got = l.start(le, ttl, start, fence)
			return got, nil
		}
		pause := bo.next()
		if left > 0 && err == nil {
			// The store told when the holder's lock expires, and a release
			// wakes this wait: no poll before then.
			pause = min(left, max(maxTrustedSleep, l.retry))
		}
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, l.waitError(ctx, lastErr)
			}
			pause = min(pause, left)
		}
		if wctx.Err() != nil {
			return nil, l.waitError(ctx, lastErr)
		}
		if timer == nil {
			timer = time.NewTimer(pause)
		} else {
			timer.Reset(pause)
		}
		select {
		case <-timer.C:
		case <-wake:
		case <-wctx.Done():
			return nil, l.waitError(ctx, lastErr)
		case <-l.closing():
			return nil, ErrClosed
		}
	}
}

// waitTurn waits, in the queue of a wait, until ch is closed or deadline
// (if not zero) passes: the wait then makes its attempts. It returns the
// wait's error if ctx (or wctx, the wait's own time) ends first, or the
// Lock closes.
func (l *locker) waitTurn(ctx, wctx context.Context, ch <-chan struct{}, deadline time.Time) error {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-ch:
	case <-expired: // one attempt before giving up
	case <-wctx.Done():
		return l.waitError(ctx, nil)
	case <-l.closing():
		return ErrClosed
	}
	return nil
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// waitError is the error of a wait that ended unsuccessfully on ctx, on its
// timeout or on Close; err is the error of the last attempt, if it failed.
func (l *locker) waitError(ctx context.Context, err error) error {
	cerr := ctx.Err()
	switch {
	case l.closed.Load():
		return ErrClosed
	case cerr == nil:
		cerr = context.DeadlineExceeded // the wait's own timeout
	}
	switch {
	case err == nil:
		return fmt.Errorf("%w: %w", ErrNotAcquired, cerr)
	case errors.Is(err, cerr):
		return fmt.Errorf("%w: %w", ErrNotAcquired, err)
	default:
		return fmt.Errorf("%w: %w: %w", ErrNotAcquired, cerr, err)
	}
}
