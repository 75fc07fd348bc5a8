package lock

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Match them with [errors.Is]: the errors of this package
// and its backends wrap them.
var (
	// ErrNotAcquired reports a lock held by another owner.
	ErrNotAcquired = errors.New("lock: not acquired")
	// ErrNotHeld reports a lock no longer held: released, or expired.
	ErrNotHeld = errors.New("lock: not held")
	// ErrClosed reports a call on a Lock after its Close.
	ErrClosed = errors.New("lock: closed")
	// ErrInvalidKey reports an empty key.
	ErrInvalidKey = errors.New("lock: invalid key")
	// ErrInvalidTTL reports a ttl under MinTTL (a millisecond) or above
	// the backend's maximum.
	ErrInvalidTTL = errors.New("lock: invalid ttl")
	// ErrUnavailable marks a failure in transit, whose outcome is unknown.
	// Backends wrap transient errors with it; any network error counts too.
	ErrUnavailable = errors.New("lock: store unavailable")
	// ErrInvalidURL reports a URL that Open cannot use as written (a bad
	// form, scheme or parameter), as against a store it cannot reach. Its
	// text alone lacks the "lock: " of the others: it is always wrapped in
	// an error that starts with it ("lock: open URL: invalid URL: ...").
	ErrInvalidURL = errors.New("invalid URL")
)

// Lock is a client of a lock store, safe for concurrent use: open one with
// [Open] or a backend's constructor, and Close it when done. This module is
// its only implementer, and it may gain methods: tests should use the
// memory backend (github.com/distlock/lock/memory) rather than a mock.
type Lock interface {
	// TryAcquireLock makes one attempt to acquire key for ttl. It reports
	// false, with a nil error, when the key is held.
	TryAcquireLock(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// AcquireLock acquires key for ttl, waiting up to timeout. A timeout <= 0
	// means one attempt, failing with plain ErrNotAcquired if key is held.
	AcquireLock(ctx context.Context, key string, ttl, timeout time.Duration) error

	// ReleaseLock releases key if this Lock value acquired it, or returns
	// nil. It returns ErrNotHeld if the lock had expired.
	ReleaseLock(ctx context.Context, key string) error

	// TryAcquire makes one attempt to acquire key for ttl. It returns a
	// Lease, or ErrNotAcquired when the key is held.
	TryAcquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error)

	// Acquire acquires key for ttl, waiting until ctx is done.
	Acquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error)

	// Close releases what this Lock value holds, ends its leases and waits,
	// waits for its calls in flight, and closes a store client it made.
	// Calls of Close after the first return nil; other calls after Close
	// return ErrClosed.
	Close() error
}
