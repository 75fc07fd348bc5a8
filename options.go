package lock

import (
	"log/slog"
	"time"
)

// Defaults used when the corresponding [Options] field is zero.
const (
	// DefaultRetryInterval is retry_timeout of pip-services' MemcachedLock.
	DefaultRetryInterval = 100 * time.Millisecond
	// DefaultMaxTTL is memcached's longest ttl, so all backends agree.
	DefaultMaxTTL = 30*24*time.Hour - 3*time.Second
	// DefaultCloseTimeout keeps a dead store from making Close hang.
	DefaultCloseTimeout = 2 * time.Second
	// ReleaseTries is the most times one Release (of a Lease, or
	// ReleaseLock) is sent: a failure in transit, short of a timeout, is
	// sent again after a pause of the Lock's backoff (a sixteenth of the
	// retry interval, then an eighth, jittered down to half). Backends do
	// not resend: this is the most sends of one release.
	ReleaseTries = 3
	// MinTTL is the shortest ttl accepted: a shorter one is a mistake (a
	// bare 30 is 30ns, not 30s), and no store keeps time that finely.
	MinTTL = time.Millisecond
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
// at 30 days, and its whole-second clock needs a margin of 3s.
func (o *Options) maxTTL() time.Duration {
	if o == nil || o.MaxTTL <= 0 {
		return DefaultMaxTTL
	}
	return o.MaxTTL
}
