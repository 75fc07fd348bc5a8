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
	// ctx cut the attempt short.
	TryAcquireLock(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// AcquireLock acquires key for ttl, retrying with jittered backoff until
	// it succeeds, timeout passes or ctx is done. It makes at least one
	// attempt: when timeout <= 0, exactly one, bounded only by ctx, as
	// TryAcquireLock (a backend that passes ctx to its store fails it at
	// once if ctx is already done). A wait that ends unsuccessfully returns
	// an error matching ErrNotAcquired and either context.DeadlineExceeded
	// (timeout or ctx deadline) or ctx.Err(). With timeout > 0 it returns
	// within one retry interval of the timeout: a store call still in
	// flight then is cut short through its ctx (on a backend whose client
	// honours ctx). An error of the store (after the backend's own retries
	// of failures in transit) ends the wait too, and is returned as it is,
	// not matching ErrNotAcquired: the store is failing, not held. A failed
	// wait holds nothing: a lock that an attempt cut short may have stored
	// is released in the background.
	AcquireLock(ctx context.Context, key string, ttl, timeout time.Duration) error

	// ReleaseLock releases key if this Lock value acquired it with
	// TryAcquireLock or AcquireLock. Releasing a key this Lock value does not
	// hold is a no-op returning nil, so a second release succeeds; an empty
	// key returns ErrInvalidKey. When this
	// Lock value acquired key but the lock has since expired, ReleaseLock
	// leaves the store untouched (a new owner keeps its lock) and returns
	// ErrNotHeld, so that a caller learns its critical section may not have
	// been exclusive. After an infrastructure error the key stays recorded,
	// so the release can be retried. A key acquired and never released may
	// be forgotten once its ttl is a minute past (the record is pruned as
	// this Lock value acquires more keys); its ReleaseLock then returns nil.
	// Of two concurrent ReleaseLock calls of one key, one goes to the store
	// and the other returns nil at once (even if the first then fails).
	ReleaseLock(ctx context.Context, key string) error

	// TryAcquire makes one attempt to acquire key for ttl and returns a
	// Lease on success. When another owner holds the key it returns
	// ErrNotAcquired. Other errors are as for TryAcquireLock.
	TryAcquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error)

	// Acquire acquires key for ttl, waiting until it succeeds or ctx is
	// done, and returns a Lease. A wait that ends on ctx, during an attempt
	// or between two, returns an error matching both ErrNotAcquired and
	// ctx.Err(), and holds nothing. An error of the store ends the wait as
	// for AcquireLock.
	Acquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error)

	// Close releases the resources of this Lock value. It ends its waits
	// between two attempts, which return ErrClosed, and waits for the store
	// calls in flight to return (bounded by their ctx and the client's
	// timeout), and for the background releases of attempts that failed. A
	// lock acquired by a call that saw Close begin is released and the call
	// returns ErrClosed. Locks held are not released: they expire at the end
	// of their ttl. Every call after Close returns ErrClosed. Close is
	// idempotent; only the first call reports an error.
	Close() error
}
