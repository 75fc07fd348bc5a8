package lock

import (
	"context"
	"log/slog"
	"time"
)

// Backend is what a store implements to serve a [Lock]: three atomic,
// token-based primitives and Close. Everything else (validation, tokens,
// leases, waiting with backoff, the key-based calls) is written once, in
// [New], over these primitives.
//
// The Lock validates arguments before calling a Backend: key is non-empty
// (any bytes otherwise: the backend maps it to a native key injectively and
// safely), token is a random string of at least 128 bits, and ttl is in
// (0, Options.MaxTTL]. A Backend must be safe for concurrent use.
//
// The package locktest checks that a Backend, through New, keeps the
// contract of Lock.
type Backend interface {
	// Acquire stores token under key for ttl if key is free (absent or
	// expired). It reports false, with a nil error, when key is held. It
	// must never report true unless token is stored, and never let key
	// expire before ttl has passed from the moment it was called.
	//
	// An error means the outcome is unknown: when the attempt failed in
	// transit, or ctx cut it short, token may be stored all the same. The
	// Lock then calls Release with token in the background, so that such a
	// lock, which nobody else can release, does not block key until its
	// ttl ends. A backend that can learn the outcome cheaply (a read-back)
	// should do so and answer instead of erring.
	Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error)

	// Release deletes key if, atomically, it still stores token. It
	// reports false when key is absent or stores another token.
	Release(ctx context.Context, key, token string) (bool, error)

	// Extend sets the remaining lifetime of key to ttl if, atomically, it
	// still stores token. It reports false when key is absent or stores
	// another token.
	Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error)

	// Close releases the backend's resources. The Lock calls it once, after
	// the calls in flight have returned, and calls nothing after it.
	Close() error
}

// Watcher is an optional interface of a Backend whose store can tell when a
// key may have become free, so that waits wake on a release instead of at
// their next poll.
type Watcher interface {
	// Watch returns a channel that is closed after key is next released or
	// found expired (or at once, if key is free). A Lock calls Watch before
	// an attempt to acquire, so a release between the two is not missed.
	// The channel must not leak past the next release or expiry of key.
	Watch(key string) <-chan struct{}
}

// Fencer is an optional interface of a Backend whose store hands out
// fencing tokens: a number per acquisition of a key, strictly greater than
// the number of every earlier acquisition of that key on the store. A holder
// sends it with each write, and the resource it protects refuses a number
// lower than the highest it has seen: a holder whose lock expired while it
// was paused is refused once a later owner has written.
type Fencer interface {
	// AcquireFenced is Acquire that also returns the fencing token of the
	// acquisition when it reports true. When the attempt finds key already
	// holding token (an earlier try of the same call landed), it returns
	// that acquisition's fencing token. A fencing token is never 0.
	AcquireFenced(ctx context.Context, key, token string, ttl time.Duration) (ok bool, fence uint64, err error)
}

// Defaults used when the corresponding [Options] field is zero.
const (
	// DefaultRetryInterval is the longest pause between two attempts of a
	// wait, as retry_timeout of the pip-services MemcachedLock.
	DefaultRetryInterval = 100 * time.Millisecond

	// DefaultMaxTTL is the longest ttl accepted when a backend sets none:
	// 30 days less 2 seconds, the longest that memcached can hold (its
	// relative expirations end at 30 days, and its whole-second clock needs
	// the margin), so that every backend accepts the same ttls by default.
	DefaultMaxTTL = 30*24*time.Hour - 2*time.Second

	// DefaultCloseTimeout bounds the releases that Close makes: a dead
	// store must not make Close hang.
	DefaultCloseTimeout = 2 * time.Second
)

// Options configures a Lock built by [New]. The zero value, and a nil
// *Options, mean the documented defaults.
type Options struct {
	// RetryInterval caps the pause between two attempts of a wait. Waits
	// back off from RetryInterval/16 up to RetryInterval, each pause
	// jittered over its upper half, so a wait notices a release within one
	// RetryInterval (at once on a backend that implements Watcher) and
	// returns within one RetryInterval of its timeout. Zero means
	// DefaultRetryInterval; values under a millisecond mean a millisecond.
	RetryInterval time.Duration

	// MaxTTL is the longest ttl the backend can honour; longer ttls fail
	// with ErrInvalidTTL. Zero means DefaultMaxTTL.
	MaxTTL time.Duration

	// CloseTimeout bounds the time Close spends releasing the locks its
	// Lock value holds (a client that ignores ctx, as gomemcache does, may
	// overrun it by its own timeout). Zero means DefaultCloseTimeout.
	CloseTimeout time.Duration

	// Logger receives what happens in the background: keep-alive failures
	// and lost leases (warnings), releases that failed after an attempt or
	// in Close. Records name the key, never a token. Nil means silent.
	Logger *slog.Logger
}

func (o *Options) retryInterval() time.Duration {
	if o == nil || o.RetryInterval <= 0 {
		return DefaultRetryInterval
	}
	return max(o.RetryInterval, time.Millisecond)
}

func (o *Options) closeTimeout() time.Duration {
	if o == nil || o.CloseTimeout <= 0 {
		return DefaultCloseTimeout
	}
	return o.CloseTimeout
}

func (o *Options) logger() *slog.Logger {
	if o == nil {
		return nil
	}
	return o.Logger
}

func (o *Options) maxTTL() time.Duration {
	if o == nil || o.MaxTTL <= 0 {
		return DefaultMaxTTL
	}
	return o.MaxTTL
}
