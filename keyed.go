package lock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The key-based calls, whose owner is the Lock value (TryAcquireLock,
// AcquireLock, ReleaseLock), and the Lease-returning TryAcquire and
// Acquire: each a thin layer over an attempt or a wait.

// recordHeld records le as the holder of its key for the key-based calls.
func (l *locker) recordHeld(le *Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = make(map[string]*Lease)
	}
	l.held[le.key] = le
}

func (l *locker) TryAcquireLock(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	le, err := l.tryOnce(ctx, key, ttl)
	if le != nil {
		l.recordHeld(le)
	}
	return le != nil, err
}

func (l *locker) AcquireLock(ctx context.Context, key string, ttl, timeout time.Duration) error {
	if timeout <= 0 { // one attempt
		le, err := l.tryOnce(ctx, key, ttl)
		switch {
		case err != nil && ctx.Err() != nil && !errors.Is(err, ErrClosed):
			return fmt.Errorf("%w: %w", ErrNotAcquired, err)
		case err != nil:
			return err
		case le == nil:
			return fmt.Errorf("%w: held by another owner (timeout %v: one attempt)", ErrNotAcquired, timeout)
		}
		l.recordHeld(le)
		return nil
	}
	now := time.Now()
	deadline, timed := now.Add(timeout), true
	if deadline.Before(now) {
		deadline, timed = time.Time{}, false // too far to represent: no deadline
	}
	le, err := l.wait(ctx, key, ttl, deadline, timed)
	if err != nil {
		return err
	}
	l.recordHeld(le)
	return nil
}

// ReleaseLock keeps the key recorded after an error in transit, so that the
// release can be retried.
func (l *locker) ReleaseLock(ctx context.Context, key string) error {
	if key == "" && !l.closed.Load() {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if l.closed.Load() {
		return ErrClosed
	}
	// The record leaves the map before the store is asked, so that of two
	// concurrent releases one releases and the other is a no-op.
	l.mu.Lock()
	le, ok := l.held[key]
	delete(l.held, key)
	l.mu.Unlock()
	if !ok {
		return nil
	}
	err := le.Release(ctx)
	if err != nil && !errors.Is(err, ErrNotHeld) && !errors.Is(err, ErrClosed) {
		l.mu.Lock()
		if _, again := l.held[key]; !again { // keep it for a retry
			l.held[key] = le
		}
		l.mu.Unlock()
	}
	return err
}

func (l *locker) TryAcquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error) {
	le, err := l.tryOnce(ctx, key, ttl)
	if err == nil && le == nil {
		err = ErrNotAcquired
	}
	return le, err
}

func (l *locker) Acquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error) {
	return l.wait(ctx, key, ttl, time.Time{}, false)
}
