package lock

import (
	"context"
	"log/slog"
	"time"
)

// Backend is what a store implements for [New] to build a Lock over it:
// three atomic primitives on tokens, and Close. Keys reach it non-empty (it
// maps any bytes to a native key injectively), tokens with at least 128
// random bits, ttls in (0, MaxTTL]. It must be safe for concurrent use.
type Backend interface {
	// Acquire stores token under key for ttl if key is free (absent or
	// expired), or reports false. It never reports true unless token is
	// stored, nor lets key expire before ttl has passed from its call. An
	// error means the outcome is unknown; a backend that can learn it
	// cheaply should answer.
	Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error)

	// Release deletes key if it stores token, or reports false.
	Release(ctx context.Context, key, token string) (bool, error)

	// Extend sets the remaining lifetime of key to ttl if it stores token,
	// or reports false.
	Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error)

	// Close releases the backend's resources. The Lock calls it last, once.
	Close() error
}

// Watcher is an optional interface of a Backend that can wake waits when a
// key may have become free.
type Watcher interface {
	// Watch returns a channel that is closed when key is next released or
	// found expired (at once if key is free), and not kept after that. The
	// Lock calls it before each attempt.
	Watch(key string) <-chan struct{}
}

// Fencer is an optional interface of a Backend that gives fencing tokens.
type Fencer interface {
	// AcquireFenced is Acquire that also returns the acquisition's fencing
	// token: never 0, and above that of every earlier acquisition of key.
	// If key stores token already (an earlier try landed), it returns that
	// acquisition's.
	AcquireFenced(ctx context.Context, key, token string, ttl time.Duration) (ok bool, fence uint64, err error)
}

// Defaults used when the corresponding [Options] field is zero.
const (
	// DefaultRetryInterval is retry_timeout of pip-services' MemcachedLock.
	DefaultRetryInterval = 100 * time.Millisecond
	// DefaultMaxTTL is memcached's longest ttl, so all backends agree.
	DefaultMaxTTL = 30*24*time.Hour - 2*time.Second
	// DefaultCloseTimeout keeps a dead store from making Close hang.
	DefaultCloseTimeout = 2 * time.Second
)

// Options configures a Lock built by [New]. The zero value, and a nil
// *Options, mean the defaults.
type Options struct {
	// RetryInterval caps the pauses of a wait, which sees a release, and
	// ends after its timeout, within one RetryInterval. Zero means
	// DefaultRetryInterval; the least is a millisecond.
	RetryInterval time.Duration

	// MaxTTL is the longest ttl accepted. Zero means DefaultMaxTTL.
	MaxTTL time.Duration

	// CloseTimeout bounds Close's releases (a client that ignores ctx may
	// overrun it). Zero means DefaultCloseTimeout.
	CloseTimeout time.Duration

	// Logger receives background failures, which name keys, never tokens.
	// Nil means silent.
	Logger *slog.Logger
}

// retryInterval is the cap of a wait's backoff (see backoff): pauses grow
// from a sixteenth of it, each jittered over the upper half of its step.
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

// maxTTL defaults to memcached's longest ttl: its relative expirations end
// at 30 days, and its whole-second clock needs a margin of 2s.
func (o *Options) maxTTL() time.Duration {
	if o == nil || o.MaxTTL <= 0 {
		return DefaultMaxTTL
	}
	return o.MaxTTL
}
