package lock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

var (
	errReleased = fmt.Errorf("%w: lease released", ErrNotHeld)
	errExpired  = fmt.Errorf("%w: lock expired and may have another owner", ErrNotHeld)
	errTaken    = fmt.Errorf("%w: the store no longer holds the lease's token (deleted, evicted or taken by another owner)", ErrNotHeld)
	errDeadline = fmt.Errorf("%w: the lease's deadline passed without a successful extend", ErrNotHeld)
	errByClose  = fmt.Errorf("%w: released by Close: %w", ErrNotHeld, ErrClosed)
	errKeeping  = errors.New("lock: lease is already kept alive")
)

// A Lease is one acquisition of a lock, with its own token. It is safe for
// concurrent use. Like a [context.Context], it tells when it ends (Done,
// Deadline) and why (Err); once ended, it stays ended.
type Lease struct {
	locker *locker
	key    string
	token  string // 130 random bits, as crypto/rand.Text makes them
	fence  uint64 // 0: the backend gives no fencing tokens

	callMu sync.Mutex // serializes the store calls of Release and Extend

	mu sync.Mutex
	// ttl and deadline are those of the last successful acquire or
	// extend: deadline is its start plus ttl.
	ttl       time.Duration
	deadline  time.Time
	err       error         // why the lease ended; nil while it lasts
	tokenGone bool          // the store cannot hold the token any more: released or found lost
	done      chan struct{} // made lazily, by Done; closed when the lease ends
	timer     *time.Timer   // ends the lease at its deadline, once done exists
	onEnd     []func(error) // called once, when the lease ends
	ka        *keepState    // set by KeepAlive; see keeper.go
	unsure    bool          // a Release failed in transit: it may have landed
	releasing bool          // a Release is in flight, or may have landed: a loss the backend reports is its delete
	holdStop  func()        // stops the backend's watch of the lock (driver.HoldWatcher)
	lastErr   error         // the last failed extend of the keep-alive

	// In the Lock's list of live leases, under locker.mu.
	prev, next *Lease
	linked     bool
}

// start makes le, made by newLease and acquired at start for ttl, live.
func (l *locker) start(le *Lease, ttl time.Duration, start time.Time, fence uint64) *Lease {
	le.fence, le.ttl, le.deadline = fence, ttl, start.Add(ttl)
	l.addLive(le)
	return le
}

// Key returns the key the lease holds.
func (le *Lease) Key() string { return le.key }

// Token returns the lease's ownership token (not ordered: see Fence).
func (le *Lease) Token() string { return le.token }

// Fence returns the lease's fencing token and true, or 0, false if the
// backend gives none. The resource the lock protects should refuse a write
// whose token is lower than the highest it has seen.
func (le *Lease) Fence() (uint64, bool) { return le.fence, le.fence != 0 }

// Deadline returns the earliest moment the store may drop the lock. Check it
// before a side effect that must happen under the lock.
func (le *Lease) Deadline() time.Time {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.deadline
}

// Done returns a channel that is closed when the lease ends.
func (le *Lease) Done() (done <-chan struct{}) {
	le.update(func() {
		le.makeDoneLocked()
		done = le.done
	})
	return done
}

// makeDoneLocked makes the done channel, and the timer that ends the lease at
// its deadline.
func (le *Lease) makeDoneLocked() {
	if le.done != nil {
		return
	}
	ended := le.expiredLocked(time.Now()) // before done exists: ending closes done
	le.done = make(chan struct{})
	if ended {
		close(le.done)
		return
	}
	le.timer = time.AfterFunc(time.Until(le.deadline), le.expire)
	if hw := le.locker.holds; hw != nil {
		le.holdStop = hw.WatchHold(le.key, le.token, le.holdLost)
	}
}

// holdLost is called by the backend when it learns that the store no
// longer holds the lock (driver.HoldWatcher): the lease ends, unless a
// Release of it is in flight (the loss is then that release's).
func (le *Lease) holdLost() {
	now := time.Now()
	var gone bool
	le.update(func() {
		if le.releasing || le.err != nil {
			return
		}
		cause := errTaken
		if !now.Before(le.deadline) {
			cause = errExpired
		}
		le.endLocked(cause, true)
		gone = true
	})
	if gone {
		le.locker.removeLive(le)
	}
}

// Err returns nil while the lease lasts, and then why it ended: an error
// matching ErrNotHeld (and ErrClosed if Close released it).
func (le *Lease) Err() (err error) {
	le.update(func() {
		le.expiredLocked(time.Now())
		err = le.err
	})
	return err
}

// expiredLocked ends the lease if its deadline has passed, and reports
// whether it has ended.
func (le *Lease) expiredLocked(now time.Time) bool {
	if le.err == nil && !now.Before(le.deadline) {
		cause := errDeadline
		if le.lastErr != nil {
			cause = fmt.Errorf("%w; last extend: %w", errDeadline, le.lastErr)
		}
		le.endLocked(cause, false)
	}
	return le.err != nil
}

// expire runs at the deadline: the lease ends unless an extend moved it.
func (le *Lease) expire() {
	var (
		ended bool
		cause error
	)
	le.update(func() {
		ended = le.err == nil && le.expiredLocked(time.Now())
		if !ended && le.err == nil {
			le.timer.Reset(time.Until(le.deadline))
		}
		cause = le.err
	})
	if ended {
		le.locker.log(slog.LevelWarn, "lock lease passed its deadline", le.key, cause)
	}
}

// endLocked ends the lease with cause. tokenGone says that the store cannot
// hold the token any more; otherwise (a deadline passed) Release still asks
// the store, so a lock that outlived its deadline is let go.
func (le *Lease) endLocked(cause error, tokenGone bool) {
	le.tokenGone = le.tokenGone || tokenGone
	if le.err != nil {
		return
	}
	le.err = cause
	if le.done != nil {
		close(le.done)
	}
	if le.timer != nil {
		le.timer.Stop()
	}
	if le.ka != nil {
		le.ka.stop()
	}
	if le.holdStop != nil {
		le.holdStop()
		le.holdStop = nil
	}
}

// update runs f under le.mu and then, once le.mu is unlocked, the end
// hooks not yet called if the lease has ended (by f or before): a hook may
// call the lease, or take any lock. Every change of a lease's state that
// may end it goes through update.
func (le *Lease) update(f func()) {
	le.mu.Lock()
	f()
	var hooks []func(error)
	if le.err != nil {
		hooks, le.onEnd = le.onEnd, nil
	}
	cause := le.err
	le.mu.Unlock()
	for _, h := range hooks {
		h(cause)
	}
}

// end ends the lease and runs its hooks. Once the store cannot hold the
// token, the lease leaves the leases that Close releases.
func (le *Lease) end(cause error, tokenGone bool) {
	var gone bool
	le.update(func() {
		le.endLocked(cause, tokenGone)
		gone = le.tokenGone
	})
	if gone {
		le.locker.removeLive(le)
	}
}

// tokenIsGone reports whether the store can no longer hold the token.
func (le *Lease) tokenIsGone() bool {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.tokenGone
}

// stopKeepAlive stops the keep-alive, if there is one: an extend in flight
// returns at once.
func (le *Lease) stopKeepAlive() {
	le.mu.Lock()
	if le.ka != nil {
		le.ka.stop()
	}
	le.mu.Unlock()
}

// afterEnd arranges for f to be called with the cause once the lease ends
// (at once, if it has).
func (le *Lease) afterEnd(f func(error)) {
	le.update(func() {
		le.makeDoneLocked()
		le.onEnd = append(le.onEnd, f)
	})
}

// lossCause is the cause of a lease that the store says it does not hold.
func (le *Lease) lossCause(now time.Time) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	if now.Before(le.deadline) {
		return errTaken
	}
	return errExpired
}

// Release releases the lock and ends the lease. It returns ErrNotHeld if
// the store no longer held the token, ErrClosed after Close, or another
// error, after which the lease still holds the lock.
func (le *Lease) Release(ctx context.Context) error {
	// A release that fails in transit, short of a timeout, is sent again,
	// with jittered pauses, up to ReleaseTries times in all. When a later
	// try finds the token gone before the lease's deadline, an earlier one
	// landed: that is a release, not a loss.
	if err := ctx.Err(); err != nil {
		// Every backend alike: nothing is sent on a done ctx, and the lease
		// still holds the lock (a deferred Release of a request's ctx is a
		// bug that memory would otherwise hide).
		return fmt.Errorf("lock: no release: %w", err)
	}
	le.stopKeepAlive()
	le.callMu.Lock()
	defer le.callMu.Unlock()
	if !le.locker.enter() {
		return ErrClosed
	}
	defer le.locker.exit()
	le.mu.Lock()
	cause, gone, unsure := le.err, le.tokenGone, le.unsure
	le.releasing = !gone
	le.mu.Unlock()
	if gone {
		return cause
	}
	var (
		start time.Time
		ok    bool
	)
	// A timeout is not resent: the store is slow or gone, and a resend
	// would multiply the call's bound.
	err := retry(ctx, le.locker.newBackoff(), ReleaseTries, timedOut, func() (err error) {
		if unsure {
			start = time.Now()
		}
		ok, err = le.locker.releaseToken(ctx, le.key, le.token)
		unsure = unsure || inTransit(err)
		return err
	})
	if err != nil {
		le.mu.Lock()
		le.unsure = le.unsure || inTransit(err)
		// A release that may have landed owns the deletes the backend
		// reports from now on (driver.HoldWatcher): they may be its own.
		le.releasing = le.unsure
		le.mu.Unlock()
		return err
	}
	switch {
	case ok, unsure && start.Before(le.Deadline()):
		// A release that failed in transit may have landed: the token is
		// gone, though it cannot have expired yet, so it was that release.
		le.end(errReleased, true)
		return nil
	}
	cause = le.lossCause(time.Now())
	le.end(cause, true)
	return cause
}

// Extend sets the lock's remaining lifetime to ttl from the start of the
// call. It returns ErrInvalidTTL, ErrClosed, the lease's Err if it has
// ended, or ErrNotHeld, ending the lease, if the store lost the token.
func (le *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := le.locker.checkTTL(ttl); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lock: no extend: %w", err) // every backend alike
	}
	return le.extend(ctx, ttl)
}

func (le *Lease) extend(ctx context.Context, ttl time.Duration) error {
	le.callMu.Lock()
	defer le.callMu.Unlock()
	if !le.locker.enter() {
		return ErrClosed
	}
	defer le.locker.exit()
	if err := le.Err(); err != nil {
		return err
	}
	start := time.Now()
	ok, err := le.locker.extendToken(ctx, le.key, le.token, ttl)
	return le.settleExtend(start, ttl, ok, err)
}

// settleExtend deals with the answer to an extend that began at start:
// the lease ends if the store lost the token, and its deadline moves if the
// store extended it. The caller holds le.callMu.
func (le *Lease) settleExtend(start time.Time, ttl time.Duration, ok bool, err error) error {
	if err != nil {
		return err
	}
	if !ok {
		cause := le.lossCause(start)
		le.end(cause, true)
		return cause
	}
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.err != nil {
		// The deadline passed while the call was in flight: the lease has
		// ended, though the store holds the lock again.
		return le.err
	}
	le.ttl, le.deadline, le.lastErr = ttl, start.Add(ttl), nil
	if le.timer != nil {
		le.timer.Reset(time.Until(le.deadline))
	}
	return nil
}

// KeepAlive extends the lease in the background every interval (0 means
// ttl/3) until ctx is done or the lease ends. It returns the lease's Err,
// ErrClosed, or an error if the lease is already kept alive.
func (le *Lease) KeepAlive(ctx context.Context, interval time.Duration) error {
	// The Lock's keeper (keeper.go) makes one extend at a time, each
	// bounded by the deadline, and retries failures in transit with
	// jittered backoff.
	if interval < 0 {
		return fmt.Errorf("lock: keep-alive interval %v is negative", interval)
	}
	if !le.locker.enter() {
		return ErrClosed
	}
	defer le.locker.exit()
	var err error
	le.update(func() {
		switch {
		case le.expiredLocked(time.Now()):
			err = le.err
		case le.ka != nil:
			err = errKeeping
		default:
			le.makeDoneLocked()
			kctx, cancel := context.WithCancel(ctx)
			le.ka = &keepState{ctx: kctx, stop: cancel, interval: interval, index: -1}
		}
	})
	if err != nil {
		return err
	}
	le.locker.keeper.add(le)
	return nil
}
