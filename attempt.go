package lock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// One attempt on the store, and what a failed one leaves behind: the
// attempt's token, its checks, the call into the backend (fenced, or
// telling the holder's ttl), and the background release of a token that an
// attempt whose outcome is unknown may have stored.

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
	switch {
	case l.watch == nil:
	case l.fencer != nil && l.fencedTTLs != nil:
		ok, fence, left, err := l.fencedTTLs.AcquireFencedOrTTL(ctx, key, token, ttl)
		return ok, fence, left, classify(err)
	case l.fencer == nil && l.ttls != nil:
		ok, left, err := l.ttls.AcquireOrTTL(ctx, key, token, ttl)
		return ok, 0, left, classify(err)
	}
	ok, fence, err := l.acquire(ctx, key, token, ttl)
	return ok, fence, 0, err
}

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
