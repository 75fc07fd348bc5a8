package lock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// New returns a Lock over b. The Lock owns b: its Close closes b. A nil opts
// means the defaults. Backend packages call New from their constructors;
// users normally call those constructors or [Open].
func New(b Backend, opts *Options) Lock {
	l := &locker{
		b:      b,
		retry:  opts.retryInterval(),
		maxTTL: opts.maxTTL(),
		done:   make(chan struct{}),
	}
	l.watch, _ = b.(Watcher)
	return l
}

type locker struct {
	b      Backend
	watch  Watcher // nil unless b implements it
	retry  time.Duration
	maxTTL time.Duration

	mu   sync.Mutex
	held map[string]heldKey // for the key-based calls
	// prune is the size of held at which expired entries are next pruned.
	prune int

	closed atomic.Bool
	done   chan struct{} // closed by Close, wakes waits
}

// newToken returns a fresh ownership token: 26 base32 characters, 130 bits
// from crypto/rand.
func newToken() string { return rand.Text() }

func (l *locker) check(key string, ttl time.Duration) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	return l.checkTTL(ttl)
}

func (l *locker) checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: %v is not positive", ErrInvalidTTL, ttl)
	}
	if ttl > l.maxTTL {
		return fmt.Errorf("%w: %v is above the maximum %v", ErrInvalidTTL, ttl, l.maxTTL)
	}
	return nil
}

// try makes one attempt with a fresh token.
func (l *locker) try(ctx context.Context, key string, ttl time.Duration) (token string, ok bool, err error) {
	if err := l.check(key, ttl); err != nil {
		return "", false, err
	}
	token = newToken()
	ok, err = l.b.Acquire(ctx, key, token, ttl)
	return token, ok && err == nil, err
}

// wait attempts until acquired, deadline (if not zero) passes, ctx is done or
// the Lock is closed. It makes at least one attempt.
func (l *locker) wait(ctx context.Context, key string, ttl time.Duration, deadline time.Time) (string, error) {
	if err := l.check(key, ttl); err != nil {
		return "", err
	}
	token := newToken()
	var (
		timer *time.Timer
		bo    = backoff{max: l.retry}
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var wake <-chan struct{}
		if l.watch != nil {
			wake = l.watch.Watch(key)
		}
		ok, err := l.b.Acquire(ctx, key, token, ttl)
		if err != nil {
			// A call cut short by ctx ends the wait like ctx itself does.
			switch cerr := ctx.Err(); {
			case cerr == nil:
				return "", err
			case errors.Is(err, cerr):
				return "", fmt.Errorf("%w: %w", ErrNotAcquired, err)
			default:
				return "", fmt.Errorf("%w: %w: %w", ErrNotAcquired, cerr, err)
			}
		}
		if ok {
			return token, nil
		}
		if l.closed.Load() {
			return "", ErrClosed
		}
		pause := bo.next()
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return "", fmt.Errorf("%w: %w", ErrNotAcquired, context.DeadlineExceeded)
			}
			pause = min(pause, left)
		}
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("%w: %w", ErrNotAcquired, err)
		}
		if timer == nil {
			timer = time.NewTimer(pause)
		} else {
			timer.Reset(pause)
		}
		select {
		case <-timer.C:
		case <-wake:
		case <-ctx.Done():
			return "", fmt.Errorf("%w: %w", ErrNotAcquired, ctx.Err())
		case <-l.done:
			return "", ErrClosed
		}
	}
}

// heldKey is a key acquired by the key-based calls.
type heldKey struct {
	token   string
	expires time.Time // local estimate; the store may keep the lock longer
}

// forgetAfter is how long after its ttl a key acquired by the key-based
// calls and never released is forgotten: long past any backend's expiry
// granularity, so a ReleaseLock until then still says ErrNotHeld.
const forgetAfter = time.Minute

func (l *locker) remember(key, token string, ttl time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = make(map[string]heldKey)
	}
	l.held[key] = heldKey{token: token, expires: now.Add(ttl)}
	// Callers that let locks expire instead of releasing them must not grow
	// the map without bound: prune it each time it doubles.
	if len(l.held) >= l.prune {
		for k, h := range l.held {
			if now.Sub(h.expires) > forgetAfter {
				delete(l.held, k)
			}
		}
		l.prune = max(64, 2*len(l.held))
	}
}

func (l *locker) TryAcquireLock(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	token, ok, err := l.try(ctx, key, ttl)
	if ok {
		l.remember(key, token, ttl)
	}
	return ok, err
}

func (l *locker) AcquireLock(ctx context.Context, key string, ttl, timeout time.Duration) error {
	now := time.Now()
	deadline := now.Add(timeout)
	if timeout > 0 && deadline.Before(now) {
		deadline = time.Time{} // too far to represent: no deadline
	}
	token, err := l.wait(ctx, key, ttl, deadline)
	if err != nil {
		return err
	}
	l.remember(key, token, ttl)
	return nil
}

func (l *locker) ReleaseLock(ctx context.Context, key string) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	l.mu.Lock()
	h, ok := l.held[key]
	l.mu.Unlock()
	if !ok {
		return nil
	}
	released, err := l.b.Release(ctx, key, h.token)
	if err != nil {
		return err
	}
	l.mu.Lock()
	if l.held[key].token == h.token { // not re-acquired meanwhile by another goroutine
		delete(l.held, key)
	}
	l.mu.Unlock()
	if !released {
		return errLost
	}
	return nil
}

func (l *locker) TryAcquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error) {
	token, ok, err := l.try(ctx, key, ttl)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotAcquired
	}
	return &Lease{l: l, key: key, token: token}, nil
}

func (l *locker) Acquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error) {
	token, err := l.wait(ctx, key, ttl, time.Time{})
	if err != nil {
		return nil, err
	}
	return &Lease{l: l, key: key, token: token}, nil
}

func (l *locker) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(l.done)
	return l.b.Close()
}
