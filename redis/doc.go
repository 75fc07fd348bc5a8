// Package redis keeps locks in redis, through go-redis
// (github.com/redis/go-redis/v9): a single server, a primary watched by
// sentinels, or a redis cluster.
//
// Get a Lock by URL through lock.Open after importing this package, or with
// [New] over a go-redis client you already have:
//
//	import _ "github.com/distlock/lock/redis"
//
//	l, err := lock.Open(ctx, "redis://:secret@cache:6379/0?prefix=myapp:")
//
// A Lock is safe for concurrent use by multiple goroutines.
//
// # Algorithms
//
// Each attempt to acquire, each release and each extend is one round trip
// on its normal path.
//
// Acquire is SET key token PX ms NX GET. redis replies with the value the key
// held before: nil means the key was free and now holds the lock's random
// token. The GET option keeps a retried command unambiguous: go-redis retries a
// command whose connection failed, and when the first attempt had landed, the
// retry finds the caller's own token, which is reported as acquired (its ttl
// restarted by a compare-and-pexpire, a second round trip on that rare path
// only). Over a client that never retries itself (those lock.Open makes, unless
// the URL sets max_retries), a first attempt is a plain SET NX PX, whose token
// is fresh, and only a resend carries GET. Servers before redis 7.0 refuse NX
// with GET; on them, each Lock value switches, after its first refusal, to a
// Lua script that does the same in one round trip.
//
// When an acquire fails in transit (a timeout, a reset connection: not an error
// reply of the server), its outcome is unknown, and it is sent once more, with
// the same token, before answering (as go-redis's own retries do). If the key
// holds that token, the first landed: the lock is reported acquired, with its
// ttl restarted. If the key is free, the second takes it, and the first, should
// it land late while the lock is held, does nothing. If another owner holds it,
// it is not acquired. If the second fails too, the error is returned. A lock is
// never reported acquired unless it is held. A first SET that lands later
// still, once the key is free again, stores a lock that nobody holds, until its
// ttl: no client can tell such a late command apart. When the acquire's ctx is
// done by then, there is no time to retry: the error is returned (a wait then
// fails with an error matching lock.ErrNotAcquired and the ctx's error), and
// the Lock releases in the background, best effort, the lock the command may
// have stored.
//
// Release is a Lua compare-and-delete, Extend a Lua compare-and-pexpire:
// each acts only if the key still holds the caller's token, atomically. The
// scripts run by SHA (EVALSHA), falling back to their source (EVAL), one
// more round trip, the first time a server meets them.
//
// A release also publishes on a channel named as the lock key. A wait
// (AcquireLock, Acquire, lock.Do) subscribes to the channels of the keys it
// waits for, through one pub/sub connection per Lock value, made at its
// first wait and subscribed aside, so that no call waits for it: a waiter
// tries again within about one round trip of a release. Expiries publish
// nothing. Once its subscription is sent, a wait's attempt (without
// fencing) is wait.lua, which acquires, or returns the holder's remaining
// ttl (PTTL) in the same round trip: the wait then sends nothing until that
// lock expires or a release wakes it, but looks again once a second (or
// every retry interval, if longer) in case a release went unheard (a
// pub/sub connection that reconnected). Before its subscription, and with
// fencing, a wait polls, with backoff up to the retry interval. A channel stays
// subscribed a minute after its last wait. Over a client passed to New, the subscription takes one
// connection of that client.
//
// The expiry sent is the ttl rounded up to whole milliseconds, plus one
// millisecond of margin for redis's millisecond clock: redis counts it from
// when it runs the command, after the call began, so a lock lives at least
// its ttl from the start of the call. It may live up to 3ms longer than its
// ttl, plus the time the request took to reach the server.
//
// The key is prefix+key (the prefix is "lock:" by default). redis keys are
// binary safe, so every key, of any bytes and length, is its own lock. In a
// cluster each lock is a single key, so no hash tags are needed; a prefix
// that contains a hash tag, such as "{locks}:", puts every lock in one slot,
// on one primary.
//
// # URLs
//
//	redis://[user[:password]@]host[:port][/db][?parameter=value&...]
//	rediss://...   (TLS, verifying the server's certificate)
//
// The host defaults to localhost, the port to 6379, the database to 0.
// Credentials go in the URL's userinfo ("redis://:password@host" when redis
// has only a password): lock.Open redacts them from its errors.
//
// Durations carry their unit (250ms, 1.5s, 1h), go-redis's as well as the
// lock's; a bare number is an error that says how to write it. The
// parameters every backend takes:
//
//   - prefix: prepended to every key (default "lock:"; may not be empty).
//   - retry_interval: the longest pause between attempts of a wait (default
//     100ms); retry_timeout, the pip-services MemcachedLock's name, is the
//     same setting.
//   - max_ttl: the longest ttl accepted (default lock.DefaultMaxTTL, 30 days
//     less 3s, as the other backends).
//   - close_timeout: how long Close spends releasing (default 2s).
//
// redis's own:
//
//   - fence: "true" to hand out fencing tokens (Options.Fence; see Fencing).
//   - min_replicas: how many replicas must acknowledge an acquisition or an
//     extend before it counts (Options.MinReplicas; default 0, none; see
//     Replicas).
//   - replica_timeout: how long to wait for them (Options.ReplicaTimeout,
//     default DefaultReplicaTimeout, 100ms); it must be shorter than
//     read_timeout.
//   - timeout: sets go-redis's dial_timeout, read_timeout and write_timeout,
//     each unless given itself (default DefaultTimeout, 300ms; see
//     Timeouts).
//   - cluster: "true" for a redis cluster. The URL's host and any addr=
//     parameters are seed nodes: redis://host1:6379?cluster=true&addr=host2:6379.
//     The database must be 0.
//   - master_name (go-redis's): the name of a primary watched by sentinels.
//     The URL's host and any addr= parameters are then the sentinels:
//     redis://:secret@sentinel1:26379/0?master_name=mymaster&addr=sentinel2:26379.
//     The userinfo authenticates to the primary.
//   - sentinel_auth: "true" to authenticate to the sentinels too, with the
//     same userinfo (default false: sentinels without a password).
//
// Every other parameter is go-redis's own, as its ParseURL, ParseClusterURL
// and ParseFailoverURL read them (max_retries, pool_size, read_timeout,
// protocol, client_name, ...; skip_verify only on rediss:// single-node and
// sentinel URLs). This package checks their values itself: sizes and counts
// must be in range, durations carry their unit and are positive, except that
// conn_max_idle_time, conn_max_lifetime, min_retry_backoff and
// max_retry_backoff take a negative one (-1s) for go-redis's "none". The
// timeouts cannot be turned off: every call stays bounded.
//
// Unknown parameters are an error that lists the valid ones. So are
// username, password and their sentinel_ forms (credentials in a query
// string would be printed with the URL), and pip-services' host, port, uri,
// discovery_key and retries: the error says what to use instead.
//
// lock.Open checks that the store answers (PING) before it returns, within
// its ctx, and fails within one dial timeout on a server that is down or
// does not speak TLS to a rediss:// URL, saying so. The client it makes is
// the Lock's: Close closes it.
//
// go-redis logs some events (a failed dial in its pool, a sentinel
// failover) through its global logger, which is go-redis's to set
// (goredis.SetLogger), for the program's own clients as for this package's;
// this package leaves it alone. Open checks a server's reachability itself,
// so that its failures are in its error, not in go-redis's log.
//
// The database is the URL's path or a db= parameter, not both.
//
// # Timeouts
//
// Every call of a Lock opened by URL is bounded. The client that lock.Open
// makes has go-redis's ContextTimeoutEnabled set, so a ctx deadline ends a
// command in flight: a call with a deadline returns at it (within a few
// milliseconds), and AcquireLock within one retry interval of its timeout,
// even while the server is slow to answer or does not answer at all.
// go-redis watches deadlines only: a ctx cancelled without one is seen when
// the command returns.
//
// Without a deadline, the client's timeout T (the timeout parameter,
// DefaultTimeout, 300ms, unless given) bounds each step: dialling a
// connection, its handshake, and each command's reply. The client dials once
// per attempt and does not retry commands itself (go-redis's dialer_retries
// 1 and max_retries -1, unless the URL gives them): the Lock retries, where
// retrying is safe, what fails in transit, knowing that a failed attempt may
// have landed. So on a server that is down, or that does not answer:
//
//   - Extend fails within T;
//   - TryAcquire and TryAcquireLock within 2T (an acquire whose outcome is
//     unknown is sent once more);
//   - Release and ReleaseLock within 3T and two short pauses (three tries):
//     under a second with the default;
//   - Acquire and lock.Do wait, retrying, until their ctx is done; Close
//     returns within lock.Options.CloseTimeout, and T for a call in flight.
//
// The fault tests of this package check these bounds through a proxy that
// slows, black-holes, resets and cuts the connections. Two cases take
// longer: when every connection of the pool is busy, a call waits up to
// pool_timeout for one (go-redis's default: read_timeout plus 1s); and once
// pool_size dials have failed, go-redis fails calls with the last dial
// error, without dialling, until a probe it makes every second succeeds: a
// server back up may stay unreachable for up to a second. A cluster client
// retries failures in transit itself, within max_redirects (go-redis's
// default 3, which also follows slots that move), so its bounds are up to
// four times these.
//
// A client passed to New stays the caller's, settings included. go-redis's
// defaults (5s timeouts, 3 retries, 5 dials per attempt) make a call on a
// server that does not answer take tens of seconds, and without
// ContextTimeoutEnabled a command in flight runs until the read timeout,
// whatever its ctx. For the bounds above, set ContextTimeoutEnabled, the
// three timeouts, MaxRetries -1 and DialerRetries 1.
//
// # Fencing
//
// With Options.Fence, each acquisition returns a fencing token
// (lock.Lease.Fence) from a counter kept beside the lock key, in its
// cluster slot ("{"+key+"}:fence", or key+":fence" when key has a hash
// tag). The acquire script increments it and sets the lock in one step, so
// the acquire stays one round trip. The next token is the last plus one,
// and at least the server's clock in microseconds (TIME): a counter lost
// with the data (flushed, evicted, expired a day after its last use, or
// missing on a replica promoted after a failover) comes back ahead of every
// token handed out before. What stays assumed: the clock of the server that
// hands out a token does not step back past the last token (after a
// failover, the new primary's clock is not behind the old one's), and a key
// is acquired less than a million times per second.
//
// # Replicas
//
// redis replicates asynchronously: a write is acknowledged by the primary
// alone. Measured on a primary with replicas and three sentinels, without
// min_replicas: of 1,000 locks acquired while the replicas lagged, all
// 1,000 were free on the replica promoted after the primary died, while
// their holder still believed it held them; and after a graceful failover
// (SENTINEL FAILOVER) the demoted primary grants locks until the clients
// see the switch (about a second), and to a client that does not see it
// until the sentinels make it a replica (about 10s): with such a client
// among three contending Locks, 653 acquisitions overlapped another
// owner's of the same key.
//
// With Options.MinReplicas (min_replicas=N), every acquisition and every
// extend is followed, on the same connection and in the same round trip,
// by WAIT N timeout; on a cluster, on the primary of the lock's slot. An
// uncontended acquire stays one round trip, plus the replication it waits
// for (on loopback, an acquire and release took 1.5x as long: 0.22ms
// against 0.14ms). When fewer than N replicas acknowledge
// the write within ReplicaTimeout:
//
//   - an acquire releases what it stored and fails with an error matching
//     ErrNotReplicated and lock.ErrUnavailable (the key may be free again;
//     a wait tries again, as after any failure in transit);
//   - an extend fails the same way; the lease keeps its previous deadline,
//     and a keep-alive retries until that deadline.
//
// What this guarantees: a lock reported acquired, and each extend reported
// done, was on the primary and on N replicas when the call returned. A
// failover that promotes one of those replicas keeps it. In the same
// scenarios with min_replicas=1, none of the 1,000 acquisitions was
// reported acquired while the replicas lagged (all were refused), none was
// lost, and the graceful failover gave no key two owners, the late client's
// acquisitions on the demoted primary all refused (the tests in
// failover_test.go, run in CI).
//
// What it does not guarantee, as redis's own documentation says of WAIT:
//
//   - WAIT counts replicas that received the write, not a majority, and
//     sentinels may promote a replica that did not (one that did is down,
//     or was not preferred). With N equal to the number of replicas, every
//     replica a failover can promote has every lock.
//   - A demoted primary still takes writes until it learns of the switch,
//     and a replica that still follows it acknowledges them; when sentinels
//     then point that replica at the new primary, those writes are lost.
//     With N equal to the number of replicas this cannot happen: the
//     demoted primary has lost the replica that was promoted, so it cannot
//     gather N acknowledgements.
//   - Acknowledged is not durable: a replica that restarts without
//     persistence forgets the lock; only appendonly with appendfsync always
//     on the replicas (at a cost on every write) closes that.
//   - The price is availability: while fewer than N replicas are in sync
//     (one down, or resyncing after a failover), every acquisition fails,
//     and keep-alives fail until their leases' deadlines. After a graceful
//     failover of a primary with one replica, the new primary has none until
//     sentinels make the demoted one follow it: measured, about 10s before
//     the first acquisition succeeds again. A replica that must sync in full
//     waits repl-diskless-sync-delay first (5s by default) and acknowledges
//     nothing meanwhile.
//
// redis's own min-replicas-to-write (with min-replicas-max-lag) is the
// server-side counterpart: it refuses writes while too few replicas are
// connected, which bounds how long a demoted primary can take writes
// (by the lag, in whole seconds), but does not make a write wait for them.
//
// Failures of a server that does not serve writes at the moment (a demoted
// primary's READONLY, MASTERDOWN, LOADING, TRYAGAIN, CLUSTERDOWN) and
// go-redis's pool timeout (every connection busy, as behind a stalled
// primary) are failures in transit: a wait tries again, and a keep-alive
// retries until its lease's deadline. Measured: a primary stalled 3s under
// 1,000 kept-alive leases (ttl 10s) ended none of them.
//
// After a switch, go-redis fails calls with the old primary's dial error,
// without dialling, until a probe it makes once a second reaches the new
// one (once pool_size dials have failed): measured under load, 0.7 to 0.8s
// after the sentinels named the new primary. The probe's period is
// go-redis's, and this package cannot shorten it without replacing
// go-redis's pool.
//
// # Caveats
//
// A lock lives on one primary. redis replicates asynchronously: when a
// primary fails, sentinels or the cluster promote a replica that may not yet
// have received the latest SET, and a lock reported acquired is lost; a
// second owner can then acquire it while the first still works (see
// Replicas, and min_replicas, which narrows this). This package does not
// implement Redlock (a quorum over independent servers). Where a lost lock
// is costly, make the protected work idempotent, or check it against the
// data it protects, with fencing tokens.
//
// Persistence decides what a restart keeps. Without it (save "" and
// appendonly no) a restart drops every lock. With snapshots (RDB) a restart
// brings back the locks of the last snapshot, some of them already released;
// they expire at their deadline, which redis stores as absolute times. With
// appendonly and appendfsync always, locks survive a restart, at a cost on
// every write. Under maxmemory, every eviction policy but noeviction may
// evict locks (they all have a ttl, so volatile-* policies pick them too):
// keep locks on a server with the noeviction policy.
//
// Lock lifetimes rely on the server's clock: a clock jump on the server
// shortens or lengthens every lock.
//
// Without fence=true there are no fencing tokens: a holder paused past its
// ttl (a long GC, a stopped VM) can act after another owner has taken the
// lock. Keep ttls well above the work they protect, or keep the lease alive
// as you go.
//
// A release whose reply is lost and that go-redis retries itself (over a
// client passed to New with go-redis's MaxRetries, 3 by default, or over a
// cluster) may report lock.ErrNotHeld although it did release the lock: the
// retry finds the token gone and says so, and the Lock cannot tell that an
// earlier try landed. It is a false alarm, never the release of another
// owner's lock. Over the other clients that lock.Open makes, which do not
// retry inside go-redis, the Lock resends a release that failed in transit
// itself, and reports a token found gone before the lease's deadline as
// released.
package redis
