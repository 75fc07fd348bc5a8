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

// Token returns the lease's ownership token (not ordered: see Fence).
func (s *Lease) Token() string { return s.token }

// Fence returns the lease's fencing token and true, or 0, false if the
// backend gives none. The resource the lock protects should refuse a write
// whose token is lower than the highest it has seen.
func (s *Lease) Fence() (uint64, bool) { return s.fence, s.fence != 0 }

// Deadline returns the earliest moment the store may drop the lock. Check it
// before a side effect that must happen under the lock.
func (s *Lease) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline
}

// Done returns a channel that is closed when the lease ends.
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

// Err returns nil while the lease lasts, and then why it ended: an error
// matching ErrNotHeld (and ErrClosed if Close released it).
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

// Release releases the lock and ends the lease. It returns ErrNotHeld if
// the store no longer held the token, ErrClosed after Close, or another
// error, after which the lease still holds the lock.
func (s *Lease) Release(ctx context.Context) error {
	// A release that fails in transit, short of a timeout, is sent again,
	// with jittered pauses, up to releaseTries times in all. When a later
	// try finds the token gone before the lease's deadline, an earlier one
	// landed: that is a release, not a loss.
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

// Extend sets the lock's remaining lifetime to ttl from the start of the
// call. It returns ErrInvalidTTL, ErrClosed, the lease's Err if it has
// ended, or ErrNotHeld, ending the lease, if the store lost the token.
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

// KeepAlive extends the lease in the background every interval (0 means
// ttl/3) until ctx is done or the lease ends. It returns the lease's Err,
// ErrClosed, or an error if the lease is already kept alive.
func (s *Lease) KeepAlive(ctx context.Context, interval time.Duration) error {
	// One goroutine (keepAlive) makes one extend at a time, each bounded by
	// the deadline, and retries failures in transit with jittered backoff.
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
