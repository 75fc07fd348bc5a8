// Package etcd keeps locks in an etcd cluster (v3 API; tested on 3.4 and
// 3.6), over go.etcd.io/etcd/client/v3: locks that a Raft quorum keeps,
// through the loss of any minority of the cluster's members, with
// revisions as fencing tokens.
//
// It is a Go module of its own (github.com/distlock/lock/etcd), so that
// etcd's client and its gRPC dependencies reach only the programs that
// import it:
//
//	go get github.com/distlock/lock/etcd
//
// [New] takes a *clientv3.Client the program already has; by URL, after
// importing this package:
//
//	l, err := lock.Open(ctx, "etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379?prefix=myapp/")
//
// # What it guarantees
//
// Every request is linearizable: a lock the Lock reports held is held by
// a majority of the members, and stays held through the loss of any
// minority and the election of a new leader. A lock is a key under the
// prefix whose value is the lease's token, attached to an etcd lease of
// the lock's ttl; the lease's expiry, and every check of it, are the
// leader's, on its monotonic clock, never a client's. A lease counts
// whole seconds: a lock's lease asks for its ttl rounded up to a second,
// plus a second (see # Round trips), and the cluster raises it to its
// least lease ttl (one and a half election timeouts: 2s with etcd's
// defaults). A new leader restarts every lease's countdown. So a lock
// lives from its ttl to about three seconds more (longer across an
// election), never less.
//
// Each acquisition's fencing token (lock.Lease.Fence) is the revision at
// which its key was created: it grows across keys, releases, expiries and
// restarts of the cluster.
//
// A holder cut off from the cluster's majority cannot extend its lease,
// which the leader ends at its ttl; the holder learns it by its extends,
// within its ttl (lock.Lease.Done). In the meantime it may act while
// another owner holds the lock: send the fence with every write, and
// have the resource refuse older fences.
//
// # Round trips
//
// An acquire is one transaction: put the token under the key with a lease
// if the key does not exist, else read it. Its lease is a spare one of the
// Lock's (a lease whose lock was released, or a refused acquire's), used
// as it is when its last renewal leaves it at least the ttl (hence the
// second more), renewed in parallel with the transaction otherwise, or
// granted first (one more request) when there is none. A release is one
// transaction that deletes the key if it stores the token; its lease
// becomes a spare. An extend renews the lease, in parallel with a read
// that checks that the key still stores the token under it; an extend
// with another ttl moves the key to a lease of that ttl (one transaction
// that checks the token and the lease). So a TryAcquire and Release cycle
// costs what concurrency.Mutex's TryLock and Unlock do: two transactions.
// Keep-alives are extends of their own, not batched. A Lock sends at most
// 128 acquires and releases at once, and 128 extends apart; more wait
// their turn, for at most ten timeouts.
//
// Release and extend compare the token, unique to the acquisition: a
// retried or late call can never touch a newer lock of the key, which
// holds another token (etcd issue 22082, where a retried Unlock deletes a
// newer lock of its session, cannot happen here).
//
// # Waking waits, and losses
//
// Each Lock watches its prefix, on the client's gRPC stream, from its
// first wait or watched lease: a delete (a release, a lease's expiry, an
// operator's delete) wakes the waits on the key at once, and ends the
// lease that held it (lock.Lease.Done, lock.Do's ctx) at once, not at its
// next extend. A wait sends nothing while the holder lives, but looks again
// once a second in case a wake-up was lost; when the watch breaks (no
// leader, the connection lost), every wait looks again, and the watch
// resumes from the last revision it saw (after a compaction of the
// revisions it missed, from the present: a lease then learns of a delete
// in between at its next extend). Each Lock receives the deletes of every
// process under its prefix: give each family of locks a prefix of its
// own where there are many.
//
// # Keys, permissions, clients
//
// A lock of key is the etcd key prefix+key, or, for a key over 256 bytes
// or one that begins with the byte 0xff, prefix, the byte 0xff and the
// SHA-256 of key. End the prefix with a separator (myapp/): the Lock
// watches every key under it, and myapp would match myapp2/ too. The
// Lock needs readwrite on the prefix's range, and nothing more:
//
//	etcdctl role grant-permission --prefix=true app readwrite myapp/
//
// A client given to New keeps its own settings: gRPC's default reconnect
// backoff grows to two minutes, so set DialOptions (a backoff of a second
// at most, as Open does) and DialKeepAliveTime; build the client yourself
// for client certificates, which URLs do not take. Close the Lock before
// the client: its Close releases what it holds, and revokes its spare
// leases, through it.
//
// # URLs
//
//	etcd://[user:password@]host[:2379][,host[:2379]...][?parameters]
//	etcds://...  (TLS)
//
// The hosts are the cluster's client endpoints (a missing port is 2379);
// the user and password, etcd's authentication. Parameters:
//
//	prefix                the prefix of every key (default distlock/)
//	timeout               bound of each call (default 2s: above an
//	                      election with etcd's defaults)
//	dial_timeout          bound of each connection, and of Open's check
//	                      that the cluster answers (default 2s)
//	tls                   true for TLS on an etcd:// URL
//	ca                    a PEM file of the CAs to trust (default: the
//	                      system's)
//	server_name           the name to verify in the servers' certificates
//	insecure_skip_verify  true to verify none (tests only)
//	retry_interval, retry_timeout, max_ttl, close_timeout: as every
//	                      backend's (see lock.Options)
//
// Durations carry a unit (500ms, 2s). Unknown or repeated parameters are
// an error that lists the valid ones; errors never show the password. Open
// fails within dial_timeout, with an error that matches
// lock.ErrUnavailable, when no endpoint answers with a quorum.
//
// # Tests
//
// The module's tests run against an in-process etcd
// (go.etcd.io/etcd/server/v3/embed) unless LOCK_TEST_ETCD_URL names a
// cluster; LOCK_TEST_ETCD_BIN (an etcd binary) runs the test that kills
// members of a cluster of its own:
//
//	cd etcd && go test ./...
package etcd
