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

// A Lease is one acquisition of a lock, with its own ownership token. It is
// returned by [Lock.TryAcquire] and [Lock.Acquire].
//
// A Lease tells when it ends and why, as a [context.Context] does: Done is
// closed when it ends, Err says why, and Deadline is the earliest moment the
// store may drop the lock. It ends when it is released, when the store says
// it no longer holds the token, when its deadline passes without an extend,
// or when its Lock is closed. Once ended, it stays ended.
//
// A Lease is safe for concurrent use; its store calls are serialized.
// Release and Extend act only while the store still holds the lease's
// token, checked atomically by the store.
type Lease struct {
	l     *locker
	key   string
	token string
	fence uint64 // 0: the backend gives no fencing tokens

	call sync.Mutex // serializes the store calls of Release and Extend

	mu       sync.Mutex
	ttl      time.Duration
	deadline time.Time     // start of the last successful acquire or extend + its ttl
	err      error         // why the lease ended; nil while it lasts
	gone     bool          // the store cannot hold the token any more: released or found lost
	done     chan struct{} // made by Done; closed when the lease ends
	timer    *time.Timer   // ends the lease at its deadline, once done exists
	onEnd    []func(error) // called once, when the lease ends
	keeping  bool          // KeepAlive was called
	stopKeep context.CancelFunc
	unsure   bool  // a Release failed in transit: it may have landed
	lastErr  error // the last failed extend of the keep-alive

	// In the Lock's list of live leases, under l.mu.
	prev, next *Lease
	tracked    bool
}

func (l *locker) newLease(key, token string, ttl time.Duration, start time.Time, fence uint64) *Lease {
	s := &Lease{l: l, key: key, token: token, fence: fence, ttl: ttl, deadline: start.Add(ttl)}
	l.track(s)
	return s
}

// Key returns the key the lease holds.
func (s *Lease) Key() string { return s.key }

// Token returns the lease's ownership token: a random string of at least
// 128 bits, unique to this acquisition. It is not a fencing token (tokens
// are not ordered); see Fence.
func (s *Lease) Token() string { return s.token }

// Fence returns the lease's fencing token, and true, when the backend gives
// them (see [Fencer]): a number strictly greater than that of every earlier
// acquisition of the key on the store. Send it with each write to the
// resource the lock protects, and have the resource refuse numbers lower
// than the highest it has seen. It returns 0, false when the backend gives
// no fencing tokens; each backend's doc says whether and how it does.
func (s *Lease) Fence() (uint64, bool) { return s.fence, s.fence != 0 }

// Deadline returns the earliest moment the store may drop the lock: the
// start of the last successful acquire or extend call plus its ttl. Check it
// before a side effect that must happen under the lock.
func (s *Lease) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline
}

// Done returns a channel that is closed when the lease ends: released,
// found lost, past its deadline without an extend, or released by the
// Lock's Close. Successive calls return the same channel.
func (s *Lease) Done() <-chan struct{} {
	s.mu.Lock()
	s.watchLocked()
	done := s.done
	s.unlockAndRun()
	return done
}

// watchLocked makes the done channel, and the timer that ends the lease at
// its deadline.
func (s *Lease) watchLocked() {
	if s.done != nil {
		return
	}
	ended := s.expiredLocked(time.Now()) // before done exists: ending closes done
	s.done = make(chan struct{})
	if ended {
		close(s.done)
		return
	}
	s.timer = time.AfterFunc(time.Until(s.deadline), s.expire)
}

// Err returns nil while the lease lasts, and why it ended once Done is
// closed: an error matching ErrNotHeld, which says whether the lease was
// released, found lost, or let pass its deadline (with the last extend error
// of its keep-alive), and also ErrClosed when the Lock's Close released it.
func (s *Lease) Err() error {
	s.mu.Lock()
	s.expiredLocked(time.Now())
	err := s.err
	s.unlockAndRun()
	return err
}

// expiredLocked ends the lease if its deadline has passed, and reports
// whether it has ended.
func (s *Lease) expiredLocked(now time.Time) bool {
	if s.err == nil && !now.Before(s.deadline) {
		cause := errDeadline
		if s.lastErr != nil {
			cause = fmt.Errorf("%w; last extend: %w", errDeadline, s.lastErr)
		}
		s.endLocked(cause, false)
	}
	return s.err != nil
}

// expire runs at the deadline: the lease ends unless an extend moved it.
func (s *Lease) expire() {
	s.mu.Lock()
	ended := s.err == nil && s.expiredLocked(time.Now())
	if !ended && s.err == nil {
		s.timer.Reset(time.Until(s.deadline))
	}
	cause := s.err
	s.unlockAndRun()
	if ended {
		s.l.log(slog.LevelWarn, "lock lease passed its deadline", s.key, cause)
	}
}

// endLocked ends the lease with cause. gone says that the store cannot hold
// the token any more; otherwise (a deadline passed) Release still asks the
// store, so a lock that outlived its deadline is let go.
func (s *Lease) endLocked(cause error, gone bool) {
	s.gone = s.gone || gone
	if s.err != nil {
		return
	}
	s.err = cause
	if s.done != nil {
		close(s.done)
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.stopKeep != nil {
		s.stopKeep()
	}
}

// unlockAndRun unlocks s.mu and, if the lease has ended, calls the hooks
// not yet called.
func (s *Lease) unlockAndRun() {
	var hooks []func(error)
	if s.err != nil {
		hooks, s.onEnd = s.onEnd, nil
	}
	cause := s.err
	s.mu.Unlock()
	for _, h := range hooks {
		h(cause)
	}
}

// end ends the lease, runs its hooks, and stops tracking it once the store
// cannot hold it.
func (s *Lease) end(cause error, gone bool) {
	s.mu.Lock()
	s.endLocked(cause, gone)
	untrack := s.gone
	s.unlockAndRun()
	if untrack {
		s.l.untrack(s)
	}
}

// afterEnd arranges for f to be called with the cause once the lease ends
// (at once, if it has).
func (s *Lease) afterEnd(f func(error)) {
	s.mu.Lock()
	s.watchLocked()
	s.onEnd = append(s.onEnd, f)
	s.unlockAndRun()
}

// notHeld is the cause of a lease that the store says it does not hold.
func (s *Lease) notHeld(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.deadline) {
		return errTaken
	}
	return errExpired
}

// Release releases the lock if this lease still holds it, and ends the
// lease. It also stops the lease's keep-alive. It returns ErrNotHeld when
// the store no longer held the token (another owner's lock, if any, is left
// untouched) or the lease was already released, and ErrClosed after the
// Lock's Close. A release that fails in transit, short of a timeout, is
// sent again, with jittered pauses, up to three times in all; one that may have landed is
// not mistaken for a loss when a later try finds the token gone before the
// lease's deadline. After an error the lease still holds the lock (unless
// its deadline passes), and Release can be retried.
func (s *Lease) Release(ctx context.Context) error {
	s.mu.Lock()
	if s.stopKeep != nil {
		s.stopKeep()
	}
	s.mu.Unlock()
	s.call.Lock()
	defer s.call.Unlock()
	if !s.l.enter() {
		return ErrClosed
	}
	defer s.l.life.RUnlock()
	s.mu.Lock()
	cause, gone, unsure := s.err, s.gone, s.unsure
	s.mu.Unlock()
	if gone {
		return cause
	}
	var (
		start time.Time
		ok    bool
		err   error
		bo    = backoff{max: s.l.retry}
	)
	for try := 0; ; try++ {
		if unsure {
			start = time.Now()
		}
		ok, err = s.l.b.Release(ctx, s.key, s.token)
		// A timeout is not resent: the store is slow or gone, and a
		// resend would multiply the call's bound.
		if err == nil || !inTransit(err) || timedOut(err) || try == releaseTries-1 || sleep(ctx, bo.next()) != nil {
			break
		}
		unsure = true
	}
	if err != nil {
		if inTransit(err) {
			s.mu.Lock()
			s.unsure = true
			s.mu.Unlock()
		}
		return err
	}
	switch {
	case ok, unsure && start.Before(s.Deadline()):
		// A release that failed in transit may have landed: the token is
		// gone, though it cannot have expired yet, so it was that release.
		s.end(errReleased, true)
		return nil
	}
	cause = s.notHeld(time.Now())
	s.end(cause, true)
	return cause
}

// releaseTries is how many times Release sends a release that fails in
// transit.
const releaseTries = 3

// sleep pauses for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Extend sets the remaining lifetime of the lock to ttl, counted from the
// start of the call, if this lease still holds it, and moves the lease's
// deadline. It returns ErrInvalidTTL for a ttl the Lock would not accept in
// an acquire, ErrNotHeld (and ends the lease) when the store no longer
// holds the token, the Err of a lease that has ended, and ErrClosed after the
// Lock's Close.
func (s *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := s.l.checkTTL(ttl); err != nil {
		return err
	}
	return s.extend(ctx, ttl)
}

func (s *Lease) extend(ctx context.Context, ttl time.Duration) error {
	s.call.Lock()
	defer s.call.Unlock()
	if !s.l.enter() {
		return ErrClosed
	}
	defer s.l.life.RUnlock()
	if err := s.Err(); err != nil {
		return err
	}
	start := time.Now()
	ok, err := s.l.b.Extend(ctx, s.key, s.token, ttl)
	if err != nil {
		return err
	}
	if !ok {
		cause := s.notHeld(start)
		s.end(cause, true)
		return cause
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		// The deadline passed while the call was in flight: the lease has
		// ended, though the store holds the lock again.
		return s.err
	}
	s.ttl, s.deadline, s.lastErr = ttl, start.Add(ttl), nil
	if s.timer != nil {
		s.timer.Reset(time.Until(s.deadline))
	}
	return nil
}

// KeepAlive keeps the lease alive in the background: it extends the lock,
// with the lease's last ttl, every interval (zero means a third of that ttl),
// retrying failures in transit with jittered backoff until the deadline. The
// lease ends, closing Done, as soon as the store says it no longer holds the
// token, or when the deadline passes without a successful extend, never
// later. The keep-alive never re-creates a lost lock, has at most one extend
// in flight, and stops when ctx is done, when the lease is released or ends,
// or when the Lock is closed; stopping it leaves the lease held until its
// deadline. It returns the lease's Err if it has ended, ErrClosed after the
// Lock's Close, and an error if the lease is already kept alive.
func (s *Lease) KeepAlive(ctx context.Context, interval time.Duration) error {
	if interval < 0 {
		return fmt.Errorf("lock: keep-alive interval %v is negative", interval)
	}
	if !s.l.enter() {
		return ErrClosed
	}
	defer s.l.life.RUnlock()
	s.mu.Lock()
	defer s.unlockAndRun()
	if s.expiredLocked(time.Now()) {
		return s.err
	}
	if s.keeping {
		return errKeeping
	}
	s.keeping = true
	s.watchLocked()
	kctx, cancel := context.WithCancel(ctx)
	s.stopKeep = cancel
	s.l.bg.Add(1) // under l.life: before Close's Wait
	go s.keepAlive(kctx, interval)
	return nil
}

func (s *Lease) keepAlive(ctx context.Context, interval time.Duration) {
	defer s.l.bg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		bo      backoff
		failing bool
	)
	for {
		s.mu.Lock()
		ttl, deadline, done := s.ttl, s.deadline, s.done
		s.mu.Unlock()
		every := interval
		if every == 0 {
			every = ttl / 3
		}
		next := deadline.Add(every - ttl) // the last successful start + every
		if failing {
			next = time.Now().Add(bo.next())
		}
		timer.Reset(time.Until(next))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-s.l.done:
			return
		}
		// No extend may outlive the deadline: the lease ends there.
		ectx, cancel := context.WithDeadline(ctx, deadline)
		err := s.extend(ectx, ttl)
		cancel()
		switch {
		case err == nil:
			failing = false
		case errors.Is(err, ErrNotHeld) || errors.Is(err, ErrClosed) || ctx.Err() != nil:
			if errors.Is(err, ErrNotHeld) && !errors.Is(err, errReleased) {
				s.l.log(slog.LevelWarn, "lock lost", s.key, err)
			}
			return
		case inTransit(err) || errors.Is(err, context.DeadlineExceeded):
			if !failing {
				bo = backoff{max: min(max(every/8, time.Millisecond), time.Second)}
			}
			failing = true
			s.mu.Lock()
			s.lastErr = err
			s.mu.Unlock()
			s.l.log(slog.LevelInfo, "lock keep-alive extend failed; retrying", s.key, err)
		default:
			// An error that retrying cannot fix: the lease cannot be kept.
			s.l.log(slog.LevelWarn, "lock keep-alive gave up", s.key, err)
			s.end(fmt.Errorf("%w: keep-alive gave up: %w", ErrNotHeld, err), false)
			return
		}
	}
}
