package lock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distlock/lock/driver"
)

// New returns a Lock over b, which its Close closes. A nil opts means the
// defaults. Backend packages call New from their constructors.
func New(b driver.Backend, opts *Options) Lock {
	l := &locker{
		b:            b,
		retry:        opts.retryInterval(),
		maxTTL:       opts.maxTTL(),
		closeTimeout: opts.closeTimeout(),
		logger:       opts.logger(),
		done:         make(chan struct{}),
	}
	l.watch, _ = b.(driver.Watcher)
	l.fencer, _ = b.(driver.Fencer)
	l.ttls, _ = b.(driver.TTLReporter)
	l.batch, _ = b.(driver.BatchExtender)
	if sc, ok := b.(driver.Scoper); ok {
		l.scope = "store " + sc.Scope()
	} else {
		l.scope = fmt.Sprintf("lock %p", l) // queues of its own
	}
	l.bgCtx, l.bgStop = context.WithCancel(context.Background())
	l.keeper = newKeeper(l)
	return l
}

// Driver returns the backend under l, the one given to [New], or nil if l
// was not made by New. It is for conformance suites (package locktest
// checks a backend's primitives through it) and diagnostics: a call on it
// bypasses the Lock's checks, tokens and leases, and after l's Close the
// backend is closed.
func Driver(l Lock) driver.Backend {
	if lk, ok := l.(*locker); ok {
		return lk.b
	}
	return nil
}

type locker struct {
	b            driver.Backend
	watch        driver.Watcher       // nil unless b implements it
	fencer       driver.Fencer        // nil unless b implements it
	ttls         driver.TTLReporter   // nil unless b implements it
	batch        driver.BatchExtender // nil unless b implements it
	retry        time.Duration
	maxTTL       time.Duration
	closeTimeout time.Duration
	logger       *slog.Logger // nil: silent
	keeper       *keeper      // of the kept-alive leases
	scope        string       // of its waits' queues: see queue.go

	mu   sync.Mutex
	held map[string]*Lease // taken by the key-based calls
	// live lists the leases the store may still hold, which Close
	// releases: a list through the leases (their prev and next), so adding
	// one allocates nothing. When nLive reaches pruneAt, leases long past
	// their deadline are dropped from it (see addLive).
	live    *Lease
	nLive   int
	pruneAt int

	// life is read-held by every call into b, so that Close, which sets
	// closed and then write-locks life, closes b only once no call is in
	// flight. A call holding life must not take it again.
	life   sync.RWMutex
	closed atomic.Bool
	done   chan struct{} // closed by Close: ends waits and keep-alives
	// bg counts the goroutines of this Lock (keep-alives, releases of
	// failed attempts), which Close waits for; bgCtx ends the releases
	// when Close's time is up. At most maxOrphanReleases run at once.
	bg             sync.WaitGroup
	bgCtx          context.Context
	bgStop         context.CancelFunc
	orphanReleases atomic.Int32
}

// enter starts a call into the backend: it reports false after Close, and
// otherwise the caller must call exit when done with the backend.
func (l *locker) enter() bool {
	l.life.RLock()
	if l.closed.Load() {
		l.life.RUnlock()
		return false
	}
	return true
}

// exit ends a call that enter started.
func (l *locker) exit() { l.life.RUnlock() }

// goBackground runs f in a goroutine that Close waits for. The caller is
// between enter and exit, so that Close's wait cannot begin first.
func (l *locker) goBackground(f func()) {
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		f()
	}()
}

// closing returns a channel that is closed when Close begins.
func (l *locker) closing() <-chan struct{} { return l.done }

// newBackoff returns the backoff of a wait, capped at the retry interval.
func (l *locker) newBackoff() backoff { return backoff{max: l.retry} }

// withCloseTimeout bounds ctx by Options.CloseTimeout, as the releases of
// Close are bounded.
func (l *locker) withCloseTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.closeTimeout)
}

// releaseToken asks the store to delete key if it still holds token. The
// caller is between enter and exit.
func (l *locker) releaseToken(ctx context.Context, key, token string) (bool, error) {
	ok, err := l.b.Release(ctx, key, token)
	return ok, classify(err)
}

// extendToken asks the store to set the remaining lifetime of key to ttl if
// it still holds token. The caller is between enter and exit.
func (l *locker) extendToken(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, err := l.b.Extend(ctx, key, token, ttl)
	return ok, classify(err)
}

// newLease returns a lease of key, not yet live, with a fresh token: see
// start.
func newLease(l *locker, key string) *Lease {
	return &Lease{locker: l, key: key, token: rand.Text()}
}

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
	if ttl < MinTTL {
		// Most likely a count meant in seconds: 30 is 30ns.
		return fmt.Errorf("%w: %v is under the minimum %v (a bare number is nanoseconds: write 30*time.Second, not 30)", ErrInvalidTTL, ttl, MinTTL)
	}
	if ttl > l.maxTTL {
		return fmt.Errorf("%w: %v is above the maximum %v", ErrInvalidTTL, ttl, l.maxTTL)
	}
	return nil
}

// log reports what happened in the background, when a logger is set. It
// names the key, never a token.
func (l *locker) log(level slog.Level, msg, key string, err error) {
	if l.logger == nil {
		return
	}
	attrs := []slog.Attr{slog.String("key", key)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.logger.LogAttrs(context.Background(), level, msg, attrs...)
}

// acquire makes one attempt through the backend, fenced where it can.
func (l *locker) acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, uint64, error) {
	if l.fencer != nil {
		ok, fence, err := l.fencer.AcquireFenced(ctx, key, token, ttl)
		return ok, fence, classify(err)
	}
	ok, err := l.b.Acquire(ctx, key, token, ttl)
	return ok, 0, classify(err)
}

// acquireInWait makes one attempt of a wait: as acquire, and, where the
// backend tells, with how long the holder's lock has left (0: unknown).
func (l *locker) acquireInWait(ctx context.Context, key, token string, ttl time.Duration) (bool, uint64, time.Duration, error) {
	if l.fencer == nil && l.ttls != nil && l.watch != nil {
		ok, left, err := l.ttls.AcquireOrTTL(ctx, key, token, ttl)
		return ok, 0, left, classify(err)
	}
	ok, fence, err := l.acquire(ctx, key, token, ttl)
	return ok, fence, 0, err
}

// maxTrustedSleep is the longest a wait sleeps on a holder's remaining ttl
// (see driver.TTLReporter) before it looks again, in case the wake-up of a
// release was lost; longer when the retry interval is.
const maxTrustedSleep = time.Second

// tryOnce makes one attempt with a fresh token, and returns the lease
// acquired, or nil when the key is held.
func (l *locker) tryOnce(ctx context.Context, key string, ttl time.Duration) (*Lease, error) {
	if err := l.check(key, ttl); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		// Every backend alike: no attempt on a done ctx.
		return nil, fmt.Errorf("lock: no attempt: %w", err)
	}
	if !l.enter() {
		return nil, ErrClosed
	}
	defer l.exit()
	le, start := newLease(l, key), time.Now()
	ok, fence, err := l.acquire(ctx, key, le.token, ttl)
	if err = l.settleAttempt(ctx, key, le.token, ttl, start, ok, err); err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) && !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return l.start(le, ttl, start, fence), nil
}

// settleAttempt deals with the outcome of an attempt made between enter and
// exit. After an error the store may hold token all the same (the request
// arrived, its reply did not), and nobody else knows token: it is released
// in the background (see releaseOrphan). A lock found acquired once Close
// has begun is released at once and reported as ErrClosed.
func (l *locker) settleAttempt(ctx context.Context, key, token string, ttl time.Duration, start time.Time, ok bool, err error) error {
	switch {
	case err != nil:
		if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidTTL) || errors.Is(err, ErrClosed) || unsent(err) {
			return err
		}
		if l.closed.Load() {
			l.releaseBestEffort(context.WithoutCancel(ctx), key, token)
			return ErrClosed
		}
		if l.orphanReleases.Add(1) > maxOrphanReleases {
			// The store is failing many calls: it is likely down, and
			// the lock, if stored, expires anyway.
			l.orphanReleases.Add(-1)
			l.log(slog.LevelWarn, "lock: too many background releases; one left to expire", key, err)
			return err
		}
		l.goBackground(func() {
			defer l.orphanReleases.Add(-1)
			l.releaseOrphan(key, token, start.Add(ttl))
		})
		return err
	case ok && l.closed.Load():
		l.releaseBestEffort(context.WithoutCancel(ctx), key, token)
		return ErrClosed
	}
	return nil
}

// maxOrphanReleases bounds the background releases of one Lock running at
// once.
const maxOrphanReleases = 64

// releaseOrphan releases token, which a failed attempt may have stored and
// nobody else can release, retrying with jittered backoff until the store
// answers (released, or not there), the lock's ttl has passed (until
// ends), or Close's time is up. A fault that cut the attempt's reply often
// cuts the next call too: the pauses let the fault heal.
func (l *locker) releaseOrphan(key, token string, until time.Time) {
	ctx, cancel := context.WithDeadline(l.bgCtx, until)
	defer cancel()
	err := retry(ctx, l.newBackoff(), 0, nil, func() error {
		_, err := l.b.Release(ctx, key, token)
		return err
	})
	if err != nil {
		l.log(slog.LevelWarn, "lock: release of a failed attempt gave up; the key may stay locked until its ttl ends", key, err)
	}
}

// releaseBestEffort releases token, bounded in time, and only logs a
// failure: the lock expires anyway. Release checks the owner, so another
// owner's lock is left alone. The caller is between enter and exit.
func (l *locker) releaseBestEffort(ctx context.Context, key, token string) {
	ctx, cancel := l.withCloseTimeout(ctx)
	defer cancel()
	if _, err := l.b.Release(ctx, key, token); err != nil {
		l.log(slog.LevelWarn, "lock: release failed; the key stays locked until its ttl ends", key, err)
	}
}

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

// staleAfter is how long after its deadline a lease that was never
// released is dropped from the Lock's records: long past any backend's
// expiry granularity, so a ReleaseLock until then still says ErrNotHeld.
const staleAfter = time.Minute

// addLive records le among the leases Close releases. Callers that let
// locks expire instead of releasing them must not grow the records without
// bound: stale leases are pruned each time the list doubles.
func (l *locker) addLive(le *Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.link(le)
	if l.nLive >= l.pruneAt {
		l.pruneStaleLocked()
		l.pruneAt = max(64, 2*l.nLive)
	}
}

// pruneStaleLocked drops the leases past their deadline by more than
// staleAfter from l.live and l.held; the caller holds l.mu.
func (l *locker) pruneStaleLocked() {
	now := time.Now()
	for le := l.live; le != nil; {
		next := le.next
		if now.Sub(le.Deadline()) > staleAfter {
			l.unlink(le)
			if l.held[le.key] == le {
				delete(l.held, le.key)
			}
		}
		le = next
	}
}

// removeLive drops le, which the store can no longer hold, from the leases
// Close releases.
func (l *locker) removeLive(le *Lease) {
	l.mu.Lock()
	l.unlink(le)
	l.mu.Unlock()
}

// link adds le to l.live; the caller holds l.mu.
func (l *locker) link(le *Lease) {
	le.linked, le.prev, le.next = true, nil, l.live
	if l.live != nil {
		l.live.prev = le
	}
	l.live = le
	l.nLive++
}

// unlink removes le from l.live, if there; the caller holds l.mu.
func (l *locker) unlink(le *Lease) {
	if !le.linked {
		return
	}
	if le.prev != nil {
		le.prev.next = le.next
	} else {
		l.live = le.next
	}
	if le.next != nil {
		le.next.prev = le.prev
	}
	le.linked, le.prev, le.next = false, nil, nil
	l.nLive--
}

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

// maxCloseReleases bounds the releases that Close runs at once.
const maxCloseReleases = 32

// Close releases the leases in parallel, each bounded by CloseTimeout.
func (l *locker) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(l.done) // ends waits between attempts, and keep-alives
	l.mu.Lock()
	leases := make([]*Lease, 0, l.nLive)
	for le := l.live; le != nil; le = l.live {
		leases = append(leases, le)
		l.unlink(le)
		le.stopKeepAlive() // an extend in flight returns now
	}
	l.held = nil
	l.mu.Unlock()
	l.life.Lock() // waits for the calls in flight; later ones see closed

	// Let go of what this Lock value holds, in parallel, bounded in time;
	// the background releases of failed attempts get the same time.
	ctx, cancel := l.withCloseTimeout(context.Background())
	defer cancel()
	stop := context.AfterFunc(ctx, l.bgStop)
	defer stop()
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxCloseReleases)
	for _, le := range leases {
		if le.tokenIsGone() {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := l.b.Release(ctx, le.key, le.token); err != nil {
				l.log(slog.LevelWarn, "lock: Close could not release a lock; it stays until its ttl ends", le.key, err)
			}
			le.end(errByClose, true)
		})
	}
	wg.Wait() // a lease skipped above had ended already, with its cause
	// A keep-alive may be waiting to enter: it sees closed once life is
	// unlocked, and ends.
	l.life.Unlock()
	l.bg.Wait() // keep-alives and background releases
	l.bgStop()
	return l.b.Close()
}
