// Package driver is what a lock store implements for package lock to build
// a lock.Lock over it: [Backend], three atomic primitives on tokens, and the
// optional [Watcher], [Fencer], [TTLReporter], [FencedTTLReporter],
// [BatchExtender], [HoldWatcher] and [Scoper]. lock.New does the rest (validation,
// tokens, leases, waiting, keep-alive, Close) the same way for every store.
//
// A backend package calls lock.New from its constructors, registers its URL
// scheme with lock.Register in init, and runs the conformance suite,
// locktest.Run, in its tests. The suite checks the Lock from outside and
// the Backend's primitives directly (reached through lock.Driver): owner
// checks, expired and missing keys, resends, ttls not shortened, a
// Watcher that wakes, errors with a ctx already done. Package memory is
// the smallest example.
//
// Errors say what the Lock may assume. One that wraps lock.ErrUnavailable
// means the outcome is unknown (the Lock also counts as such, and makes
// match ErrUnavailable, a net.Error, io.EOF, io.ErrUnexpectedEOF,
// os.ErrDeadlineExceeded, net.ErrClosed and the ECONNREFUSED, ECONNRESET,
// ECONNABORTED and EPIPE errnos; wrap any other failure in transit): waits retry it, an
// acquire's token is released in the background, and a release is sent
// again and judged by the lease's deadline, so a backend whose own retry of
// a release finds the token gone should answer so rather than decide. Any
// other error is an answer. A primitive called with a ctx already done
// answers, or returns an error that matches the ctx's error or
// lock.ErrUnavailable. An Opener wraps lock.ErrInvalidURL in its errors
// about the URL.
package driver

import (
	"context"
	"time"
)

// Backend is what a store implements for lock.New to build a Lock over it:
// three atomic primitives on tokens, and Close. Keys reach it non-empty (it
// maps any bytes to a native key injectively), tokens with at least 128
// random bits, ttls in (0, MaxTTL]. It must be safe for concurrent use.
type Backend interface {
	// Acquire stores token under key for ttl if key is free (absent or
	// expired), or reports false. It never reports true unless token is
	// stored, nor lets key expire before ttl has passed from its call (a
	// ttl is rounded up to what the store counts, never down). An error
	// means the outcome is unknown; a backend that can learn it cheaply
	// should answer. The Lock gives each attempt a token of its own: a key
	// that stores token already can only be an earlier try of this one
	// (sent again by the backend or its client), which Acquire may report
	// acquired or not, but never stores twice.
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
	// Lock calls it before each attempt. A Watcher that is a TTLReporter
	// or a FencedTTLReporter may wake only the waits whose attempt, made
	// through AcquireOrTTL or AcquireFencedOrTTL after Watch, found key
	// held (as the Lock's waits do): a store where telling waits costs
	// every release something (PostgreSQL's NOTIFY) can then spare the
	// releases no one waits for. A release that comes while a
	// first Watch of key is being set up (a subscription on its way) may
	// be missed, but not by a Watch made after that: locktest checks that
	// the second Watch of a key wakes within a second of its release.
	// A Watcher that finds it cannot watch the store (its notifications
	// do not arrive) returns nil: the wait then looks again when the
	// holder's lock expires as a TTLReporter told, or within a second,
	// or, from a backend that does not tell, after its backoff.
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

// TTLReporter is an optional interface of a Backend that can tell, in the
// round trip of a refused acquire, how long the holder's lock has left.
// A wait then sleeps until that lock expires, or its Watcher wakes it at a
// release, but no longer than a second (or the retry interval, if longer)
// at a time, instead of polling a live holder with backoff. The Lock uses
// it only for the attempts of a wait, and only if the Backend is a Watcher
// and not a Fencer (a Fencer implements FencedTTLReporter instead).
type TTLReporter interface {
	// AcquireOrTTL is Acquire, with Acquire's rules (a key that stores
	// token already, from an earlier try that landed, is acquired), that
	// also returns, when another owner holds key, how long that lock has
	// left (it may be released sooner), or 0 when it cannot tell. left is
	// read only when ok is false and err nil. It should tell only when its
	// Watcher will wake a wait on key at the next release.
	AcquireOrTTL(ctx context.Context, key, token string, ttl time.Duration) (ok bool, left time.Duration, err error)
}

// FencedTTLReporter is TTLReporter for a Fencer: the Lock uses it, as it
// uses TTLReporter, for the attempts of a wait of a Backend that is a
// Watcher too, so that a store that fences every acquisition can still
// spare its waits from polling a live holder.
type FencedTTLReporter interface {
	// AcquireFencedOrTTL is AcquireFenced that also returns, when another
	// owner holds key, how long that lock has left, as
	// TTLReporter.AcquireOrTTL does.
	AcquireFencedOrTTL(ctx context.Context, key, token string, ttl time.Duration) (ok bool, fence uint64, left time.Duration, err error)
}

// BatchExtender is an optional interface of a Backend that extends many
// locks in one call: the keep-alives of a Lock whose extends fall due
// together (two or more, with no upper bound), sent as one pipeline. The
// Lock holds each lease's calls meanwhile, so no Release or Extend of
// those tokens runs at the same time. Keys may repeat, with other tokens,
// and ttls differ.
type BatchExtender interface {
	// ExtendBatch does for each element of batch what Extend does, in any
	// order or at once, and sets its OK and Err, in place, as Extend would
	// have returned them: an element left as it came (OK false, Err nil)
	// says that the store does not hold its token, which ends its lease;
	// an element whose outcome is unknown needs an Err that wraps
	// lock.ErrUnavailable (it is retried). ctx is the Lock's own, not a
	// keep-alive's, and ends at the earliest of the leases' deadlines: it
	// may be done already.
	ExtendBatch(ctx context.Context, batch []Extension)
}

// HoldWatcher is an optional interface of a Backend that learns, without
// being asked, that a lock it took is gone from the store (deleted,
// expired, or taken by another token): a lease then ends at once rather
// than at its next extend.
type HoldWatcher interface {
	// WatchHold arranges for lost to be called, once, when the backend
	// learns that key no longer stores token, until stop is called. The
	// Lock calls it for the leases whose end it watches (Done, KeepAlive,
	// lock.Do), and stop when the lease ends; a Release of the lease may
	// also make the backend call lost, which the Lock ignores. lost is
	// called from a goroutine of the backend that holds none of its
	// locks, never from within WatchHold or stop, and may come after stop
	// (the Lock ignores it then).
	WatchHold(key, token string, lost func()) (stop func())
}

// Extension is one extend of a batch.
type Extension struct {
	Key, Token string
	TTL        time.Duration
	OK         bool
	Err        error
}

// Scoper is an optional interface of a Backend that names where its locks
// live, so that the Lock values of a process over the same store share
// their waits: one wait per key asks the store, the others queue behind it
// in the process. The Lock reads it once, in lock.New; without it, each
// Lock value has queues of its own.
type Scoper interface {
	// Scope returns a string, starting with the backend's name, that two
	// Backends of one process return alike only if they store every key
	// in the same place: the same servers or database, and the same
	// mapping of keys (prefix...). Two Backends of one store that return
	// different scopes only do not share their waits; two of different
	// stores that return the same scope would make a wait on one queue
	// behind a lease held on the other.
	Scope() string
}
