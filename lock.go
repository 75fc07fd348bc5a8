package lock

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Match them with [errors.Is]: the errors returned by this
// package and its backends wrap them with more detail.
var (
	// ErrNotAcquired reports that a lock is held by another owner. A wait that
	// ends on its timeout or on its context returns an error that matches both
	// ErrNotAcquired and the context's error.
	ErrNotAcquired = errors.New("lock: not acquired")

	// ErrNotHeld reports that a lock is no longer held by the caller: it
	// expired (and may have been taken by another owner), or it was already
	// released.
	ErrNotHeld = errors.New("lock: not held")

	// ErrClosed reports a call on a Lock after its Close.
	ErrClosed = errors.New("lock: closed")

	// ErrInvalidKey reports an empty key.
	ErrInvalidKey = errors.New("lock: invalid key")

	// ErrInvalidTTL reports a ttl that is zero, negative, or above the
	// backend's maximum.
	ErrInvalidTTL = errors.New("lock: invalid ttl")

	// ErrUnavailable marks a failure in transit: the store could not be
	// reached or did not answer in time, so the outcome of the call is
	// unknown and a retry may succeed. Waits and keep-alives retry such
	// failures. Network errors (net.Error, io.EOF, a reset connection) count
	// as such without it; backends wrap their other transient errors with
	// it.
	ErrUnavailable = errors.New("lock: store unavailable")
)

// Lock is a client of a lock store. It is what users hold: obtain one with
// [Open] (by URL) or with a backend's constructor, and Close it when done.
//
// A Lock is safe for concurrent use by multiple goroutines. Two Lock values
// that share a store (two processes, or two Open calls on the same URL)
// exclude each other as any two owners do.
//
// Keys are arbitrary non-empty strings: spaces, newlines, unicode and
// invalid UTF-8 are all valid and distinct. A ttl must be positive and at most
// the backend's maximum. A lock is never acquirable by another owner before
// its ttl has passed, counted from the moment the acquiring attempt began
// (the store starts the ttl when the request reaches it, and cannot know
// how long the reply takes to come back: budget work from before the call);
// it may live up to the backend's expiry granularity longer.
//
// The key-based calls (TryAcquireLock, AcquireLock, ReleaseLock) follow the
// classic lock API: ownership belongs to the Lock value, so any goroutine
// using the same Lock value may release the key. When goroutines share a Lock
// value, use the lease calls (TryAcquire, Acquire), whose [Lease] carries its
// own ownership token.
type Lock interface {
	// TryAcquireLock makes one attempt to acquire key for ttl. It reports
	// true when the lock was acquired by this Lock value and false, with a
	// nil error, when another owner holds it (this Lock value included: a
	// key is not re-entrant). It returns ErrInvalidKey, ErrInvalidTTL,
	// ErrClosed, or an error from the store, which matches ctx.Err() when
	// ctx cut the attempt short or was done before it (then no attempt is
	// made).
	TryAcquireLock(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// AcquireLock acquires key for ttl, retrying with jittered backoff until
	// it succeeds, timeout passes or ctx is done; timeout <= 0 means one
	// attempt, which fails with ErrNotAcquired alone when the key is held.
	// A ctx already done makes no attempt. Failures in transit are retried like a busy key; other store
	// errors end the wait and are returned as they are. A wait that ends
	// without the lock returns an error matching ErrNotAcquired and
	// context.DeadlineExceeded (or ctx.Err()), wrapping the last store error
	// if the last attempt failed, and holds nothing.
	AcquireLock(ctx context.Context, key string, ttl, timeout time.Duration) error

	// ReleaseLock releases key if this Lock value acquired it with
	// TryAcquireLock or AcquireLock; otherwise it is a no-op returning nil,
	// so a second release succeeds. It returns ErrNotHeld when the lock had
	// expired (another owner's lock is left untouched), and keeps the key
	// recorded after an error in transit, so the release can be retried.
	ReleaseLock(ctx context.Context, key string) error

	// TryAcquire makes one attempt to acquire key for ttl and returns a
	// Lease on success. When another owner holds the key it returns
	// ErrNotAcquired. Other errors are as for TryAcquireLock.
	TryAcquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error)

	// Acquire acquires key for ttl, waiting until it succeeds or ctx is
	// done, and returns a Lease. Its wait and errors are AcquireLock's with
	// no timeout.
	Acquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error)

	// Close releases the locks this Lock value holds (keys and leases, in
	// parallel, bounded by Options.CloseTimeout), ends its leases, its waits
	// and its keep-alives, waits for its calls in flight, and closes the
	// store's client if the Lock made it. Every call after Close returns
	// ErrClosed. Close is idempotent; only the first call reports an error.
	Close() error
}
