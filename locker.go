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

	// life is read-held by every call into b, so that Close, which sets
	// closed and then write-locks life, closes b only once no call is in
	// flight. A call holding life must not take it again.
	life   sync.RWMutex
	closed atomic.Bool
	done   chan struct{} // closed by Close: ends waits between attempts
	// forgets counts the background releases of settle, which Close waits
	// for; at most maxForgets run at once.
	forgets    sync.WaitGroup
	forgetting atomic.Int32
}

// enter starts a call into the backend: it reports false after Close, and
// otherwise the caller must call l.life.RUnlock when done with b.
func (l *locker) enter() bool {
	l.life.RLock()
	if l.closed.Load() {
		l.life.RUnlock()
		return false
	}
	return true
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
	if !l.enter() {
		return "", false, ErrClosed
	}
	defer l.life.RUnlock()
	token = newToken()
	ok, err = l.b.Acquire(ctx, key, token, ttl)
	if err = l.settle(ctx, key, token, ok, err); err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) && !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return "", false, err
	}
	return token, ok, nil
}

// settle looks at the outcome of an attempt made while holding l.life. After
// an error the store may hold token all the same (the request arrived, its
// reply did not), and nobody else knows token: settle has it released in the
// background, so that the key is not left locked, by no one, until the ttl
// ends; Close waits for that release. A lock found acquired once Close has
// begun is released at once and reported as ErrClosed.
func (l *locker) settle(ctx context.Context, key, token string, ok bool, err error) error {
	switch {
	case err != nil:
		if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidTTL) || errors.Is(err, ErrClosed) {
			return err
		}
		ctx = context.WithoutCancel(ctx)
		if l.closed.Load() {
			l.release(ctx, key, token)
			return ErrClosed
		}
		if l.forgetting.Add(1) > maxForgets {
			// The store is failing many calls: it is likely down, and
			// the lock, if stored, expires anyway.
			l.forgetting.Add(-1)
			return err
		}
		l.forgets.Add(1) // under l.life: before Close's Wait
		go func() {
			defer l.forgets.Done()
			defer l.forgetting.Add(-1)
			l.release(ctx, key, token)
		}()
		return err
	case ok && l.closed.Load():
		l.release(context.WithoutCancel(ctx), key, token)
		return ErrClosed
	}
	return nil
}

const (
	// forgetTimeout bounds the best-effort release of a token that an
	// attempt may have stored without saying so.
	forgetTimeout = 5 * time.Second

	// maxForgets bounds the background releases of one Lock running at once.
	maxForgets = 64
)

// release releases token, best effort and bounded in time: the lock expires
// anyway. Release checks the owner, so another owner's lock is left alone.
// The caller holds l.life, or is counted in l.forgets.
func (l *locker) release(ctx context.Context, key, token string) {
	ctx, cancel := context.WithTimeout(ctx, forgetTimeout)
	defer cancel()
	_, _ = l.b.Release(ctx, key, token)
}

// wait attempts until acquired, deadline (if not zero) passes, ctx is done or
// the Lock is closed. It makes at least one attempt. When timed, the attempts
// run under a context that ends one retry interval after the deadline (or
// after the start, if later), so that a slow store cannot hold the wait much
// past its timeout. Close ends a wait between two attempts; an attempt in
// flight runs to its end, and Close waits for it.
func (l *locker) wait(ctx context.Context, key string, ttl time.Duration, deadline time.Time, timed bool) (string, error) {
	if err := l.check(key, ttl); err != nil {
		return "", err
	}
	if !l.enter() {
		return "", ErrClosed
	}
	defer l.life.RUnlock()
	wctx := ctx
	if timed {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, later(deadline, time.Now()).Add(l.retry))
		defer cancel()
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
		ok, err := l.b.Acquire(wctx, key, token, ttl)
		if err = l.settle(ctx, key, token, ok, err); err != nil {
			if errors.Is(err, ErrClosed) || wctx.Err() == nil {
				return "", err
			}
			// A call cut short ends the wait like its ctx or timeout does.
			return "", l.ended(ctx, err)
		}
		if ok {
			return token, nil
		}
		pause := bo.next()
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return "", l.ended(ctx, nil)
			}
			pause = min(pause, left)
		}
		if wctx.Err() != nil {
			return "", l.ended(ctx, nil)
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
			return "", l.ended(ctx, nil)
		case <-l.done:
			return "", ErrClosed
		}
	}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ended is the error of a wait that ended unsuccessfully on ctx, on its
// timeout or on Close; err is the error of an attempt cut short, if any.
func (l *locker) ended(ctx context.Context, err error) error {
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
	deadline, timed := now.Add(timeout), timeout > 0
	if timed && deadline.Before(now) {
		deadline, timed = time.Time{}, false // too far to represent: no deadline
	}
	token, err := l.wait(ctx, key, ttl, deadline, timed)
	if err != nil {
		return err
	}
	l.remember(key, token, ttl)
	return nil
}

func (l *locker) ReleaseLock(ctx context.Context, key string) error {
	if key == "" && !l.closed.Load() {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if !l.enter() {
		return ErrClosed
	}
	defer l.life.RUnlock()
	// The record leaves the map before the store is asked, so that of two
	// concurrent releases one releases and the other is a no-op.
	l.mu.Lock()
	h, ok := l.held[key]
	delete(l.held, key)
	l.mu.Unlock()
	if !ok {
		return nil
	}
	released, err := l.b.Release(ctx, key, h.token)
	if err != nil {
		l.mu.Lock()
		if _, again := l.held[key]; !again { // keep it for a retry
			l.held[key] = h
		}
		l.mu.Unlock()
		return err
	}
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
	token, err := l.wait(ctx, key, ttl, time.Time{}, false)
	if err != nil {
		return nil, err
	}
	return &Lease{l: l, key: key, token: token}, nil
}

func (l *locker) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(l.done) // ends waits between attempts
	l.life.Lock() // waits for the calls in flight
	defer l.life.Unlock()
	l.forgets.Wait() // and for the background releases they started
	return l.b.Close()
}
