// Package lock is one API for distributed locks over memcached, redis,
// PostgreSQL, etcd (a module of its own) and an in-process store. Open a [Lock] by URL with [Open], or with a backend's
// constructor over a client you already have:
//
//	import _ "github.com/distlock/lock/memcached" // registers memcached://
//
//	l, err := lock.Open(ctx, "memcached://cache1:11211")
//	defer l.Close()
//	err = lock.Do(ctx, l, "invoice:42", 30*time.Second, bill) // bill(ctx) error
//
// [Do] and [TryDo] run a function under a lock kept alive, and cancel its
// ctx if the lock is lost. Acquire and TryAcquire return a [Lease], with a
// token of its own, to Extend, KeepAlive and Release; use them when
// goroutines share a Lock. TryAcquireLock, AcquireLock and ReleaseLock keep
// the API of the pip-services MemcachedLock: the Lock value owns the key.
//
// # The contract
//
// Every backend keeps these rules, checked by package locktest:
//
//   - Keys: any non-empty string (any bytes, any length) is a key of its
//     own; "" is ErrInvalidKey. A ttl <= 0 or above the backend's maximum is
//     ErrInvalidTTL.
//   - Exclusion: at most one owner holds a key, across goroutines, Lock
//     values and processes sharing a store. A key is not re-entrant.
//   - Expiry: no other owner can acquire a lock before its ttl has passed
//     from the start of the acquiring call. It may live up to the backend's
//     granularity longer (3s on memcached).
//   - Ownership: each acquisition has a random token of at least 128 bits;
//     release and extend act only while the store holds it, atomically.
//   - Failures in transit (ErrUnavailable, network errors): no call reports
//     a lock acquired unless it is held, and a lock that a failed attempt
//     may have stored is released in the background. A failed release
//     leaves the lock held, to retry.
//   - Context: no attempt, release or extend is made on a ctx already done
//     (the lease still holds its lock), and an error that ctx caused
//     matches ctx.Err().
//   - Waiting: AcquireLock and Acquire retry with capped, jittered backoff,
//     through failures in transit; other store errors end the wait. A wait
//     that ends, within one retry interval of its timeout or ctx, returns
//     an error matching ErrNotAcquired and ctx.Err() (or
//     context.DeadlineExceeded), wrapping the last store error, and holds
//     nothing.
//   - Leases: a Lease ends when released, when the store says it lost the
//     token, or at its deadline (the start of its last successful acquire
//     or extend, plus the ttl), never later. KeepAlive extends it every
//     ttl/3, retrying every failure that does not say the lock is gone (in
//     transit, or an error of the store) until the deadline, and ends the
//     lease only then; stopped, it leaves the lease held until its
//     deadline. Nothing re-creates a lost lock.
//   - Closing: Close releases what its Lock value holds, within
//     Options.CloseTimeout, and ends its leases, waits and keep-alives.
//     Every later call returns ErrClosed (Close itself returns nil).
//
// # Under load
//
// The waits of a process for one key of one store (through one Lock value
// or several over the same store) queue, in the order they began: only
// the first asks the store (and a queued wait whose timeout comes, which
// makes its one attempt), and when it acquires the key, the next makes no
// attempt until that lease ends. The store sees about two commands per
// hand-off (a release and an acquire) however many goroutines wait, and
// they get the key in arrival order. Where the backend can tell, a refused
// attempt also says how long the holder's lock has left (redis without
// fencing, PostgreSQL, etcd), and the wait sleeps until then or until a release wakes it,
// but no longer than a second (or the retry interval, if longer) at a
// time. A Lock keeps its kept-alive leases with one scheduler, not a
// goroutine each, and sends the extends that fall due together as one
// batch where the backend can (memcached by URL or Dial, redis,
// PostgreSQL). Where the backend learns by itself that a lock is gone
// (etcd's watch), the lease ends at once, not at its next extend.
//
// Store errors are wrapped with the backend's name, for errors.Is, and no
// error shows a password. Background failures go to Options.Logger.
//
// # Backends and caveats
//
// Backends are packages that register a URL scheme: memcached
// (memcached://h1:11211,h2:11211), redis (redis://, rediss://) and memory
// (memory://name, for tests). A new one implements the interfaces of
// package driver, calls [New] and [Register], and passes locktest.Run.
//
// A ttl does not stop a holder paused past it (a GC pause) from acting after
// another owner took the lock: check Lease.Deadline before a side effect,
// and use fencing tokens ([Lease.Fence]) where it matters. Memcached drops
// locks on restart or eviction, and redis can lose one on failover (unless
// min_replicas makes each write wait for replicas); each backend's doc
// says what its store guarantees.
package lock
