package lock

import (
	"context"
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
	l.fencedTTLs, _ = b.(driver.FencedTTLReporter)
	l.batch, _ = b.(driver.BatchExtender)
	l.holds, _ = b.(driver.HoldWatcher)
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

// locker is the Lock that New makes. Its files, by concern: locker.go
// (lifecycle: New, enter and exit, Close), attempt.go (one attempt, its
// token and the clean-up of a failed one), wait.go and queue.go (waits and
// their queues), live.go (the leases Close releases), keyed.go (the calls
// of the API), lease.go (a Lease), keeper.go (keep-alives), retry.go (the
// one retry policy), transit.go (which errors are failures in transit).
//
// Lock order: a goroutine that holds one of these mutexes takes only those
// listed after it, never one before:
//
//  1. Lease.callMu (Release, Extend, a batch of the keeper: one store call
//     of a lease at a time);
//  2. locker.life, read-held between enter and exit by every call into the
//     backend, write-held by Close;
//  3. locker.mu (live leases, held keys), and the queues' mutex
//     (queue.go), which takes no other;
//  4. Lease.mu, the innermost, with keeper.mu beside it (neither is held
//     while the other is taken).
//
// A Lease's end hooks run after Lease.mu is unlocked (Lease.update), so a
// hook may take any of these.
type locker struct {
	b            driver.Backend
	watch        driver.Watcher           // nil unless b implements it
	fencer       driver.Fencer            // nil unless b implements it
	ttls         driver.TTLReporter       // nil unless b implements it
	fencedTTLs   driver.FencedTTLReporter // nil unless b implements it
	holds        driver.HoldWatcher       // nil unless b implements it
	batch        driver.BatchExtender     // nil unless b implements it
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
			le.update(func() { le.releasing = true }) // its delete is no loss
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
