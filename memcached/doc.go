// Package memcached keeps locks on memcached servers.
//
// Get a Lock by URL through lock.Open after importing this package, or with
// [Dial]: it speaks memcached's meta protocol (memcached 1.6 or later) over
// connections of its own. [New] makes a Lock over a *memcache.Client
// (github.com/bradfitz/gomemcache) you already have, through the classic
// text protocol (any memcached from 1.4 on):
//
//	import _ "github.com/distlock/lock/memcached"
//
//	l, err := lock.Open(ctx, "memcached://cache1:11211,cache2:11211?prefix=myapp:")
//
// Both kinds store the same keys and values on the same servers: Locks of
// either kind, in one process or in many, exclude each other.
//
// # Algorithms
//
// A lock is an item whose value is the lock's random token. Every change
// to it is a compare-and-swap on the item's cas id, so it acts only on an
// item that still holds the caller's token; never a plain "delete" or
// "touch", which would not check the owner.
//
// Through the meta protocol (Dial, Open), each operation is one round trip:
//
//   - acquire: "ms <key> <n> T<exp> ME c" adds the item, and returns its cas
//     id, which the Lock remembers;
//   - extend: "ms <key> <n> T<exp> C<cas> c" stores the token again with the
//     new expiration if the cas id is still the one remembered, and returns
//     the new one;
//   - release: "md <key> C<cas>" deletes the item if the cas id is still the
//     one remembered.
//
// A cas id is remembered with the server process that gave it (its pid and
// start time, asked once per connection): memcached numbers cas ids from 1
// again when it restarts, and another owner's lock may then get the very
// cas id of a lock lost in the restart. When the cas id is not known (after
// a reply lost in transit, or a restart), or the server answers that it
// changed, the operation reads the item ("mg <key> v c"), compares the
// token, and acts on the cas id read: three round trips.
//
// With fencing tokens (Options.Fence, fence=true; see Fencing), the acquire
// also sends "ma <counter> T<life> v", in the same write, on the same
// connection: still one round trip.
//
// Through the classic protocol (New), acquire is one "add" (one round
// trip); release and extend read the key with "gets" and, only if it still
// holds the caller's token, write it back with "cas" on the cas id read:
// with expiration -1 (expired at once) to release, with the new expiration
// to extend. Two round trips each.
//
// The expiration sent is ceil(ttl/1s)+2 seconds. memcached's clock counts
// whole seconds, read by a timer once a second, so an item stored with
// expiration n lives between n-1 and n seconds; but the timer drifts, and
// when two of its reads straddle two second boundaries the count grows by 2
// at once, so that an item stored just before lives only about n-2 seconds.
// The two extra seconds make sure that a lock never expires before its
// ttl; it may live up to three seconds longer.
//
// A key is sent as prefix+key when that is a legal memcached key (at most
// max_key_size bytes, no spaces or control characters) and key does not
// start with '#'; any other key is sent as prefix+"#"+base64url(SHA-256(key)).
// The mapping is injective (short of a SHA-256 collision) and no key can
// carry protocol text to the server.
//
// When a command fails in transit, its outcome is unknown. An add is then
// read back, once, before answering: if the token stored is ours the lock
// is reported held (its expiration written again from now); if another's,
// it is not; if none, the outcome stays unknown (lock.ErrUnavailable). A
// compare-and-swap that finds the cas id changed reads the item again,
// since an earlier one of ours may have landed late. The backend sends
// each command once: the Lock decides every resend (a wait's next attempt,
// a release's tries, at most lock.ReleaseTries, a keep-alive's next
// extend), so one release sends at most lock.ReleaseTries deletes, each
// after at most one read (the cas id), and one acquire at most one add and
// one read-back with its compare-and-swap.
//
// # Time
//
// Every call to the store (an acquire, release or extend, with its
// read-backs) is bounded by call_timeout (default 1s) and by ctx:
// through Dial, it returns by the earlier of ctx's deadline and call_timeout
// after it began, plus the few milliseconds it takes to notice, and at once
// when ctx is cancelled. A server that does not answer makes a call fail
// within that bound with an error matching lock.ErrUnavailable (or ctx's
// error). A dial gets at most timeout (default 500ms), and so does each
// command from the moment it is queued on its connection until its reply
// is read: a server that takes longer is deemed stuck,
// its connection is closed and the commands it carried fail in transit. Two waits are bounded by timeout
// alone, not by ctx: a write to a server that stopped reading, and the rest
// of a reply once its first byte has come; a server that stalls there can
// hold a call up to timeout past its ctx.
//
// # Connections
//
// A Lock made by Dial or Open opens at most pool_size connections (default
// 8) to each server (a bound per Lock value: memcached's own limit, -c,
// counts those of every Lock of every process), dialled as concurrent calls need them and kept until
// Close, and sends many commands on each at once: memcached answers the
// commands of a connection in order, and each reply echoes its command's
// opaque number, which the client checks. A burst of thousands of
// concurrent calls is queued on those connections and served, never
// refused for want of a connection (memcached refuses connections past its
// -c limit, 1024 by default). A call whose ctx ends while its command is in
// flight returns at once; its reply, when it comes, is read and dropped.
//
// Some calls of a Lock make more than one call to the store: Lease.Release
// sends a release that fails in transit up to three times, and waits retry
// until their own timeout; see the lock package.
//
// memcached cannot tell a client that a key was deleted, so a wait finds
// the releases of other processes, and expiries, by polling, with pauses
// that grow up to the retry interval. A release made through any Lock of
// the same process, on the same servers (or, for Locks made by New, the
// same client), wakes the waits on its key at once.
//
// # URLs
//
//	memcached://host1[:port][,host2[:port]...][?parameter=value&...]
//
// The port defaults to 11211 and the host list to localhost. Several servers
// share the keys (each key lives on one server, chosen by hash); they are not
// replicas. Every client of the same locks must name the same servers, and
// use the same prefix and max_key_size: these decide on which server, and
// under which name, a key is stored. The order of the servers does not
// matter: they are sorted (by host name in lower case, then port). A
// *memcache.Client given to New agrees with them when it is made with
// memcache.NewFromSelector over [Servers].
//
// Durations carry their unit (250ms, 1.5s, 1h); a bare number is an error
// that says how to write it. The parameters every backend takes:
//
//   - prefix: prepended to every key (default "lock:"; may not be empty).
//   - retry_interval: the longest pause between attempts of a wait (default
//     100ms); retry_timeout, the pip-services MemcachedLock's name, is the
//     same setting.
//   - max_ttl: the longest ttl accepted (default, and at most, max_expiration
//     less 3s).
//   - close_timeout: how long Close spends releasing (default 2s).
//
// memcached's own, under the pip-services MemcachedLock's names where it had
// them:
//
//   - call_timeout: the longest a call to the store takes, read-backs
//     included (default 1s).
//   - timeout: how long a dial, or a command's wait for its reply, may take
//     before the connection is deemed stuck and closed (default 500ms).
//   - pool_size: the most connections open to each server (default 8); each
//     carries many commands at once.
//   - retries: accepted for the pip-services configurations that set it (a
//     count, checked), and ignored: the backend sends each command once, and
//     the Lock decides every resend.
//   - max_key_size: the longest key sent as is (at most and by default 250);
//     longer keys are hashed.
//   - max_expiration: the longest expiration asked of the server (at most and
//     by default 720h, 30 days: memcached reads longer ones as absolute
//     times).
//   - tls: "true" to connect with TLS (memcached --enable-ssl), verifying the
//     server's certificate against the system's roots. For other roots or a
//     client certificate, use Dial with Options.TLS.
//   - fence: "true" to hand out fencing tokens (Options.Fence; see
//     Fencing).
//
// Unknown parameters are an error that lists the valid ones, and so are the
// pip-services settings that have no meaning for a lock (host, port, uri,
// discovery_key, max_size, max_value, reconnect, failures, retry, idle): the
// error says why. memcached has no authentication, so a URL with a user or
// password is refused.
//
// # Fencing
//
// With Options.Fence (fence=true), each acquisition of a Lock made by Dial
// or Open returns a fencing token (lock.Lease.Fence) from a counter kept
// beside the lock key: an item of its own, on the lock's server (chosen by
// the lock's key, not the counter's), under prefix+"#f:"+ the rest of the
// lock's key, or, when that would be longer than max_key_size,
// prefix+"#:"+ 42 characters of a hash of it; no lock key can take either
// form. The acquire sends the increment ("ma <counter> T<life> v") after
// its add, in the same write: an uncontended acquire stays one round trip,
// and the token is the counter's value returned with the add that stored
// the lock. Increments by attempts that find the key held are counted too:
// tokens leave gaps, and only increase. Each increment keeps the counter a
// day from its last use. A Lock made by New cannot: Fence is an error
// there, since gomemcache has no way to read the server's clock.
//
// When the increment finds the counter missing (never made, expired,
// evicted, flushed, or lost in a restart), and only then, the acquire reads
// the server's clock ("stats": time, in seconds) and increments the
// counter or, if it is still missing, creates it at (time+1)*1000000, in
// one atomic step ("ma <counter> N<life> J<value> T<life> v"): a counter
// lost comes back ahead of every token handed out before. What stays
// assumed: the clock of the server that holds a key does not step back
// (and when the list of servers changes and a key moves, the new server's
// clock is not behind the old one's); a counter is not lost and made again
// within about two seconds of when it was made (memcached's clock counts
// whole seconds, and a process started anew may read up to a second behind
// the one it replaces, so such a counter may come back at a value it has
// handed out already); and a key is tried fewer than a million times per
// second (every attempt counts, the refused ones too).
//
// An acquire whose add's reply was lost (or whose increment's was) reads
// the lock back as any acquire does; if it holds the acquire's token, its
// token is the one remembered for that acquisition, if any (a resend with
// the same token gets the same), else the counter's next value: above
// every token handed out before the lock was stored, and below every one
// handed out after it. Locks without Fence (and Locks made by New) on the
// same keys do not move the counters: their acquisitions are not ordered
// with the fenced ones.
//
// # Caveats
//
// memcached is a cache, not a database. A lock is lost, silently, when its
// server restarts or is flushed, or when memory runs short and the item is
// evicted: run a dedicated instance (or one with memory to spare) for locks.
// Several servers shard the keys and replicate nothing: a lock lives and dies
// with its one server.
//
// Expiry is precise to seconds: a lock lives between its ttl and ttl plus
// 3s.
//
// A *memcache.Client takes no context: through New, ctx and call_timeout
// are checked before each command, but a command once sent runs until it is
// answered or the client's Timeout passes (twice, when it must dial first).
// A call may return that long after its ctx is done, a wait that much after
// its end, and Close waits as long for the calls in flight.
//
// When a release that failed in transit is sent again and finds the key
// free, or held by another owner, the first may have landed (and the key
// been taken since), or the lock expired: the release is reported done
// before the lease's deadline, and ErrNotHeld after it, as on every
// backend. Another owner's lock is never touched.
//
// A server started with -C (no cas ids) cannot check an owner: releases and
// extends fail with an error saying so. Dial needs memcached 1.6 or later,
// and fails with an error saying so on an older server; a proxy in front of
// memcached must pass the meta commands and "stats" through unchanged.
//
// An add that the server runs only after the client gave up on it, and
// after the read-back that followed, leaves a lock that no caller holds: it
// blocks its key until its ttl passes. memcached has no way to tell such a
// late command apart; keep ttls no longer than the work needs.
//
// Without fence=true there are no fencing tokens (lock.Lease.Fence reports
// false), and a holder paused past its ttl (a long GC, a stopped VM) can
// act after another owner has taken the lock. Keep ttls well above the work
// they protect, or keep the lease alive as you go; with fencing tokens, have
// the resource refuse a token below the highest it has seen.
//
// memcached has no authentication in its protocols beyond TLS client
// certificates; with tls=true, at least, traffic is encrypted.
package memcached
