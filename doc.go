// Package lock is one API for distributed locks over several stores:
// memcached, redis, and an in-process store for tests. Pick the store by URL
// with [Open], or with a backend's constructor over a client you already
// have; the code that locks stays the same.
//
//	import (
//		"github.com/distlock/lock"
//		_ "github.com/distlock/lock/memcached" // registers memcached://
//	)
//
//	l, err := lock.Open(ctx, "memcached://cache1:11211")
//	...
//	defer l.Close()
//	err = lock.Do(ctx, l, "invoice:42", 30*time.Second, func(ctx context.Context) error {
//		return bill(ctx, 42) // ctx is cancelled if the lock is lost
//	})
//
// # The contract
//
// Every backend keeps these rules, checked by the conformance suite in
// package locktest:
//
//   - Keys: any non-empty string is a key of its own: spaces, newlines,
//     unicode, invalid UTF-8, kilobytes long. An empty key is ErrInvalidKey.
//   - TTL: a lock is never acquirable by another owner before its ttl has
//     passed, counted from when the acquiring attempt began (not from its
//     return: the reply's way back is time the store cannot see). It may
//     live up to the backend's granularity longer (about 2s on memcached, a few
//     milliseconds on redis). A ttl <= 0 or above the backend's maximum is
//     ErrInvalidTTL.
//   - Exclusion: at most one owner holds a key at a time, across goroutines,
//     Lock values and processes sharing a store.
//   - Ownership: every acquisition has a random token of at least 128 bits;
//     release and extend act only while the store still holds that token,
//     checked atomically by the store.
//   - Ambiguity: a call that fails in transit never reports a lock acquired
//     unless it is held. When an attempt fails with its outcome unknown,
//     the Lock releases its token in the background, so a lock it may have
//     stored does not block the key, held by no one, until its ttl ends.
//   - Waiting: AcquireLock and Acquire try at least once, retry with capped,
//     jittered backoff (or wake on a release, where the store can tell),
//     and stop at their timeout or when ctx is done, within one retry
//     interval, with an error matching ErrNotAcquired and the ctx error. A
//     failure in transit (ErrUnavailable, a network error) is retried like
//     a busy key, so a wait rides out a server restart; other store errors
//     end it. A failed wait holds nothing.
//   - Long work: a [Lease] tells when it ends and why (Done, Err, Deadline,
//     as a context.Context does), and KeepAlive extends it in the
//     background every third of its ttl. A lease ends as soon as the store
//     says it no longer holds the token, and never later than its deadline
//     (the start of its last successful acquire or extend plus the ttl).
//     Nothing ever re-creates a lost lock. [Do] and [TryDo] run a function
//     under a kept-alive lock, with a ctx cancelled on loss.
//   - Closing: Close releases what its Lock value holds (bounded in time),
//     ends its leases, waits and keep-alives; after it, every call returns
//     ErrClosed.
//
// Errors from a store are wrapped with the backend's name (%w), so
// errors.Is sees through them. Errors never show a password: URLs in them
// are redacted, and a URL that may hold a password where redaction cannot
// find it is not shown at all. Background failures (keep-alive, releases)
// go to Options.Logger, when set.
//
// # Three ways to hold a lock
//
// [Do] (or [TryDo], which skips a busy key) is the simplest: it acquires,
// keeps the lock alive while a function runs, and releases. The lease
// calls, TryAcquire and Acquire, return a [Lease] with a token of its own,
// to Extend, KeepAlive and Release by hand; use them when goroutines share
// a Lock value. The key-based calls, TryAcquireLock, AcquireLock and
// ReleaseLock, keep the classic lock API: the Lock value is the owner, so a
// release of a key this value did not acquire does nothing.
//
// # Backends
//
// A backend is a package that registers a URL scheme and implements
// [Backend], three atomic primitives; [New] builds the Lock over them, so
// validation, tokens, leases and waiting are the same everywhere:
//
//   - github.com/distlock/lock/memcached: memcached://host:11211,... (the
//     meta protocol, one round trip per call; the classic protocol over a
//     gomemcache client of yours). A lock lives between its ttl and ttl + 2s.
//   - github.com/distlock/lock/redis: redis:// and rediss:// (SET NX PX GET;
//     Lua scripts), single node, sentinel or cluster. One round trip per
//     call, millisecond ttls.
//   - github.com/distlock/lock/memory: memory://name, in-process, with an
//     injectable clock for tests.
//
// A new backend implements [Backend], registers its scheme with [Register]
// in init, and calls locktest.Run from its tests.
//
// # Caveats
//
// A lock here is a lease with a ttl, not a guarantee of exclusion against a
// paused process: a holder stopped past its ttl (a long GC pause, a
// suspended VM) may act after another owner has taken the lock. Where that
// matters, use a backend that gives fencing tokens (memory; redis with
// fence=true; see [Lease.Fence]) and have the resource refuse stale ones. Keep ttls well above the pauses a process may
// suffer, keep leases alive (or use Do), and check Lease.Deadline before a
// side effect that must happen under the lock.
//
// The stores are not consensus systems: memcached drops locks on restart or
// eviction; redis with asynchronous replication can lose a lock on failover.
// Each backend's package doc says what its store guarantees.
package lock
