package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/keyhash"
)

const (
	// Scheme is the URL scheme of this package: etcd://host:2379,... .
	Scheme = "etcd"
	// SchemeTLS is etcd over TLS: etcds://host:2379,... .
	SchemeTLS = "etcds"
	// DefaultPrefix is prepended to every key when Options.Prefix is
	// empty.
	DefaultPrefix = "distlock/"
	// DefaultTimeout bounds each request of a Lock whose Options.Timeout is
	// zero.
	DefaultTimeout = 2 * time.Second
)

// Options configures a Lock made by New. The zero value, and a nil
// *Options, mean the defaults.
type Options struct {
	lock.Options

	// Prefix is prepended to every key. Empty means DefaultPrefix.
	Prefix string

	// Timeout bounds each request. Zero means DefaultTimeout: above the
	// election of a new leader (one to two seconds with etcd's defaults),
	// so a request in flight while the leader fails is answered by the
	// next one.
	Timeout time.Duration
}

func (o *Options) prefix() string {
	if o == nil || o.Prefix == "" {
		return DefaultPrefix
	}
	return o.Prefix
}

func (o *Options) timeout() time.Duration {
	if o == nil || o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o *Options) lockOptions() *lock.Options {
	if o == nil {
		return nil
	}
	return &o.Options
}

// New returns a Lock that keeps its locks in the etcd cluster of client.
// The client stays the caller's: the Lock's Close does not close it. New
// does no I/O.
func New(client *clientv3.Client, opts *Options) (lock.Lock, error) {
	if client == nil {
		return nil, errors.New("etcd: nil client")
	}
	return lock.New(newBackend(client, opts, false), opts.lockOptions()), nil
}

func newBackend(client *clientv3.Client, opts *Options, owned bool) *backend {
	b := &backend{
		c:       client,
		owned:   owned,
		prefix:  opts.prefix(),
		timeout: opts.timeout(),
		held:    make(map[string]lease),
		spares:  make(map[int64][]lease),
		slots:   make(chan struct{}, maxInFlight),
		extends: make(chan struct{}, maxInFlight),
	}
	b.watcher = newWatcher(client, b.prefix)
	if owned {
		b.scope = fmt.Sprintf("etcd %s %q", strings.Join(client.Endpoints(), ","), b.prefix)
	} else {
		b.scope = fmt.Sprintf("etcd client %p %q", client, b.prefix)
	}
	return b
}

// backend implements driver.Backend on etcd: a lock is a key whose value
// is the token, attached to a lease of the lock's ttl; see the package
// doc.
type backend struct {
	c       *clientv3.Client
	owned   bool // c was made from a URL: Close closes it
	prefix  string
	timeout time.Duration
	scope   string
	watcher *watcher

	mu      sync.Mutex
	held    map[string]lease  // by token: the lease of each lock this backend took
	spares  map[int64][]lease // by the seconds asked for: leases attached to no key
	closed  bool
	sweepAt int // the size of held at which hold drops expired entries

	background sync.WaitGroup // revokes in flight
	slots      chan struct{}  // the acquires and releases in flight: see begin
	extends    chan struct{}  // the extends in flight
}

// lease is a lease of the backend's: the one a lock is attached to, or a
// spare, attached to no key, kept for the next acquire of its ttl.
type lease struct {
	id      clientv3.LeaseID
	asked   int64     // seconds, as asked for (see seconds)
	ttl     int64     // seconds, as granted (at least the cluster's minimum)
	renewed time.Time // when the request that granted or last renewed it was sent
	rev     int64     // of a lock's lease: the revision that created the lock
}

// lasts reports whether l, unrenewed, still lives for d from now: the
// cluster counts its ttl from when it granted or renewed it, after
// renewed.
func (l lease) lasts(d time.Duration) bool {
	return time.Since(l.renewed)+d <= time.Duration(l.ttl)*time.Second
}

// maxSpares bounds the spare leases kept per ttl.
const maxSpares = 16

// stored returns the etcd key of key: prefix and key, or its hash when
// it is long (see keyhash.Map).
func (b *backend) stored(key string) string { return b.prefix + keyhash.Map(key) }

// seconds returns the lease ttl asked for ttl: whole seconds, rounded
// up, and one more, so that a spare lease renewed within the last second
// still outlives ttl without a renewal.
func seconds(ttl time.Duration) int64 {
	s := int64(ttl / time.Second)
	if ttl%time.Second != 0 {
		s++
	}
	return s + 1
}

// wrap is the error of a request that failed: an answer of the cluster
// (permission denied, a request too large) as it is, anything else (no
// leader, a timeout, a connection lost, a ctx done) wrapping
// lock.ErrUnavailable.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("etcd: %w", kind(err))
}

// kind returns err, wrapping lock.ErrUnavailable unless it is an answer
// of the cluster.
func kind(err error) error {
	if answer(err) {
		return err
	}
	return fmt.Errorf("%w: %w", lock.ErrUnavailable, err)
}

// answer reports whether err is a definite answer of the cluster, which
// another try would meet again.
func answer(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var code codes.Code
	if ee := (rpctypes.EtcdError{}); errors.As(err, &ee) {
		// The client turns the cluster's gRPC errors into these.
		code = ee.Code()
	} else if s, ok := status.FromError(err); ok {
		code = s.Code()
	} else {
		return false
	}
	switch code {
	case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition, codes.OutOfRange, codes.NotFound, codes.AlreadyExists, codes.Unimplemented:
		return true
	}
	return false
}

// grant returns a lease for a lock of ttl: a spare that outlives ttl
// as it is (renew false), or a spare that needs a renewal alongside the
// transaction that uses it (renew true), or a new one.
func (b *backend) grant(ctx context.Context, ttl time.Duration) (l lease, renew bool, err error) {
	sec := seconds(ttl)
	b.mu.Lock()
	for s := b.spares[sec]; len(s) > 0; s = b.spares[sec] {
		l = s[len(s)-1]
		b.spares[sec] = s[:len(s)-1]
		switch {
		case l.lasts(ttl):
			b.mu.Unlock()
			return l, false, nil
		case l.lasts(b.timeout):
			b.mu.Unlock()
			return l, true, nil
		}
		// About to expire, if not gone: it is left to.
	}
	b.mu.Unlock()
	return b.grantNew(ctx, sec)
}

// grantNew grants a lease of sec seconds.
func (b *backend) grantNew(ctx context.Context, sec int64) (lease, bool, error) {
	sent := time.Now()
	resp, err := b.c.Grant(ctx, sec)
	if err != nil {
		return lease{}, false, err
	}
	return lease{id: resp.ID, asked: sec, ttl: resp.TTL, renewed: sent}, false, nil
}

// putBack keeps l, attached to no key now, as a spare for locks of sec
// seconds, or revokes it in the background.
func (b *backend) putBack(l lease, sec int64) {
	b.mu.Lock()
	if !b.closed && len(b.spares[sec]) < maxSpares && l.lasts(time.Second) {
		b.spares[sec] = append(b.spares[sec], l)
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.revoke(l.id)
}

// maxInFlight bounds the calls of a backend in flight at once, extends
// apart (their own turns: a burst of acquires cannot hold a keep-alive
// past its lease's deadline); queueBound is how many timeouts a call may
// wait for its turn. A burst of calls queues here, each with its whole
// timeout once sent, rather than all racing one timeout on a loaded
// cluster.
const (
	maxInFlight = 128
	queueBound  = 10
)

// begin waits for a call's turn, for at most queueBound timeouts, and
// returns its ctx, bounded by the timeout, and the func that ends it.
func (b *backend) begin(ctx context.Context, slots chan struct{}) (context.Context, func(), error) {
	select {
	case slots <- struct{}{}:
	default:
		qctx, cancel := context.WithTimeout(ctx, queueBound*b.timeout)
		select {
		case slots <- struct{}{}:
			cancel()
		case <-qctx.Done():
			cancel()
			return nil, nil, fmt.Errorf("etcd: %w: waiting for a turn among %d calls in flight: %w", lock.ErrUnavailable, maxInFlight, qctx.Err())
		}
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	return ctx, func() { cancel(); <-slots }, nil
}

// revoke revokes lease id in the background, bounded by the timeout.
func (b *backend) revoke(id clientv3.LeaseID) {
	b.background.Add(1)
	go func() {
		defer b.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		defer cancel()
		_, _ = b.c.Revoke(ctx, id)
	}()
}

// keepAlive renews lease id once, concurrently with f, and returns f's
// error, or the renewal's if f succeeded: a lock put under a lease that
// may not have been renewed might expire before its ttl.
func (b *backend) keepAlive(ctx context.Context, id clientv3.LeaseID, f func() error) error {
	done := make(chan error, 1)
	go func() {
		_, err := b.c.KeepAliveOnce(ctx, id)
		done <- err
	}()
	err := f()
	kerr := <-done
	if err != nil {
		return err
	}
	return kerr
}

func (b *backend) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, _, err := b.AcquireFenced(ctx, key, token, ttl)
	return ok, err
}

// AcquireFenced implements driver.Fencer: one transaction puts token
// under key with a lease of the ttl if key has never been created since
// it was last deleted, and otherwise reads it; the fence is the revision
// at which key was created. A spare lease is renewed in parallel with
// the transaction; a fresh one is granted first.
func (b *backend) AcquireFenced(ctx context.Context, key, token string, ttl time.Duration) (bool, uint64, error) {
	return b.acquire(ctx, key, token, ttl, false)
}

// acquire is AcquireFenced. A spare lease that needs a renewal is renewed
// in parallel with the transaction, or, for the attempt of a wait (which
// is refused more often than not), only once the transaction succeeded:
// a wait then sends one request an attempt.
func (b *backend) acquire(ctx context.Context, key, token string, ttl time.Duration, inWait bool) (bool, uint64, error) {
	ctx, done, err := b.begin(ctx, b.slots)
	if err != nil {
		return false, 0, err
	}
	defer done()
	k, sec := b.stored(key), seconds(ttl)
	l, renew, err := b.grant(ctx, ttl)
	if err != nil {
		return false, 0, wrap(err)
	}
	var resp *clientv3.TxnResponse
	txn := func() (err error) {
		resp, err = b.c.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, token, clientv3.WithLease(l.id))).
			Else(clientv3.OpGet(k)).
			Commit()
		return err
	}
	switch {
	case renew && inWait:
		err = txn()
		if err == nil && resp.Succeeded {
			sent := time.Now()
			if _, err = b.c.KeepAliveOnce(ctx, l.id); errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return false, 0, nil // expired, and the lock with it
			}
			l.renewed = sent
		}
	case renew:
		sent := time.Now()
		err = b.keepAlive(ctx, l.id, txn)
		l.renewed = sent
	default:
		err = txn()
	}
	if errors.Is(err, rpctypes.ErrLeaseNotFound) && (resp == nil || resp.Succeeded) {
		// The spare was gone: the transaction was refused for it, or
		// its renewal failed (the lock, if put, went with the lease).
		if l, _, err = b.grantNew(ctx, sec); err != nil {
			return false, 0, wrap(err)
		}
		resp, err = nil, txn()
	}
	if err != nil {
		// The put may have landed: the lease is left to expire.
		return false, 0, wrap(err)
	}
	if resp.Succeeded {
		l.rev = resp.Header.Revision
		b.hold(token, l)
		return true, uint64(l.rev), nil
	}
	b.putBack(l, sec)
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 1 && string(kvs[0].Value) == token {
		// An earlier try of this acquisition landed, under a lease of
		// its own (whose renewal time is not known here: the next extend
		// moves the lock to a lease of its own).
		b.hold(token, lease{id: clientv3.LeaseID(kvs[0].Lease), rev: kvs[0].CreateRevision})
		return true, uint64(kvs[0].CreateRevision), nil
	}
	return false, 0, nil
}

// hold records that token holds its lock under l.
func (b *backend) hold(token string, l lease) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held[token] = l
	if len(b.held) >= b.sweepAt {
		// Locks left to expire, never released: their entries go.
		for t, h := range b.held {
			if h.ttl > 0 && !h.lasts(-time.Minute) {
				delete(b.held, t)
			}
		}
		b.sweepAt = max(2*len(b.held), 1024)
	}
}

// forget drops token's lease from held and returns it (zero if unknown).
func (b *backend) forget(token string) lease {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.held[token]
	delete(b.held, token)
	return l
}

// lease returns token's lease (zero if unknown).
func (b *backend) lease(token string) lease {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held[token]
}

// Release deletes key in one transaction if it stores token; the lease,
// attached to no key, is revoked in the background.
func (b *backend) Release(ctx context.Context, key, token string) (bool, error) {
	ctx, done, err := b.begin(ctx, b.slots)
	if err != nil {
		return false, err
	}
	defer done()
	k := b.stored(key)
	resp, err := b.c.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(k), "=", token)).
		Then(clientv3.OpDelete(k)).
		Commit()
	if err != nil {
		return false, wrap(err)
	}
	if l := b.forget(token); l.ttl > 0 {
		// Attached to no key now: a spare for the next acquire.
		b.putBack(l, l.asked)
	} else if l.id != 0 {
		b.revoke(l.id)
	}
	return resp.Succeeded, nil
}

// Extend renews the lock's lease, in parallel with a read that checks
// that key still stores token under it, when ttl rounds to the lease's
// ttl (as a keep-alive's does); otherwise it moves key to a lease of the
// new ttl, in one transaction that checks token.
func (b *backend) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ctx, done, err := b.begin(ctx, b.extends)
	if err != nil {
		return false, err
	}
	defer done()
	k, sec := b.stored(key), seconds(ttl)
	h := b.lease(token)
	if h.id == 0 {
		// Not acquired here (another Lock's token, or forgotten): learn
		// the lease from the key, and move the key to a lease of ttl.
		resp, err := b.c.Get(ctx, k)
		if err != nil {
			return false, wrap(err)
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != token {
			return false, nil
		}
		h = lease{id: clientv3.LeaseID(resp.Kvs[0].Lease), rev: resp.Kvs[0].CreateRevision}
	}
	if h.ttl == 0 || h.asked != sec {
		return b.moveLease(ctx, k, token, h, ttl)
	}
	var got *clientv3.GetResponse
	sent := time.Now()
	err = b.keepAlive(ctx, h.id, func() (err error) {
		got, err = b.c.Get(ctx, k)
		return err
	})
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		b.forget(token)
		return false, nil
	case err != nil:
		return false, wrap(err)
	}
	if len(got.Kvs) == 1 && string(got.Kvs[0].Value) == token && clientv3.LeaseID(got.Kvs[0].Lease) != h.id {
		// Ours, under another lease: an earlier move to a new ttl landed,
		// its reply lost. Move it again, from the lease it has.
		return b.moveLease(ctx, k, token, lease{id: clientv3.LeaseID(got.Kvs[0].Lease), rev: got.Kvs[0].CreateRevision}, ttl)
	}
	ok := len(got.Kvs) == 1 && string(got.Kvs[0].Value) == token
	if ok {
		h.renewed = sent
		b.hold(token, h)
	} else {
		b.forget(token)
	}
	return ok, nil
}

// moveLease puts token again under k with a lease for ttl, if k stores
// token under lease old; old, attached to no key then, becomes a spare.
func (b *backend) moveLease(ctx context.Context, k, token string, old lease, ttl time.Duration) (bool, error) {
	l, renew, err := b.grant(ctx, ttl)
	if err != nil {
		return false, wrap(err)
	}
	var resp *clientv3.TxnResponse
	txn := func() (err error) {
		resp, err = b.c.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(k), "=", token), clientv3.Compare(clientv3.LeaseValue(k), "=", old.id)).
			Then(clientv3.OpPut(k, token, clientv3.WithLease(l.id))).
			Commit()
		return err
	}
	if renew {
		sent := time.Now()
		err = b.keepAlive(ctx, l.id, txn)
		l.renewed = sent
	} else {
		err = txn()
	}
	if err != nil {
		// The move may have landed: the next extend learns the lease
		// from the key.
		b.forget(token)
		return false, wrap(err)
	}
	if !resp.Succeeded {
		b.putBack(l, l.asked)
		b.forget(token)
		return false, nil
	}
	l.rev = old.rev
	b.hold(token, l)
	if old.ttl > 0 {
		b.putBack(old, old.asked)
	} else {
		b.revoke(old.id)
	}
	return true, nil
}

// Watch implements driver.Watcher: a watch on key wakes waits when it is
// deleted, by a release or the expiry of its lease alike.
func (b *backend) Watch(key string) <-chan struct{} { return b.watcher.watch(b.stored(key)) }

// WatchHold implements driver.HoldWatcher: the watch of the prefix tells
// the lease when its key is deleted (its lease expired, an operator
// deleted it, the cluster lost it).
func (b *backend) WatchHold(key, token string, lost func()) (stop func()) {
	return b.watcher.hold(b.stored(key), b.lease(token).rev, lost)
}

// AcquireFencedOrTTL implements driver.FencedTTLReporter. The watch wakes
// a wait at the lock's expiry as at its release, so the wait need not know
// when the holder's lease ends (which would take one more request): a
// refused attempt reports untilWoken, and the wait sleeps that long unless
// woken.
func (b *backend) AcquireFencedOrTTL(ctx context.Context, key, token string, ttl time.Duration) (bool, uint64, time.Duration, error) {
	ok, fence, err := b.acquire(ctx, key, token, ttl, true)
	if err != nil || ok {
		return ok, fence, 0, err
	}
	return false, 0, untilWoken, nil
}

// untilWoken is what a refused attempt reports as the holder's time left:
// the longest the Lock sleeps on a report before it looks again (in case a
// wake-up was lost), since the watch wakes the wait whenever the lock
// goes. No lock lives less than a second (the lease's least ttl).
const untilWoken = time.Second

// Scope implements driver.Scoper: the Locks of a process over the same
// endpoints (or client) and prefix share their waits.
func (b *backend) Scope() string { return b.scope }

func (b *backend) Close() error {
	b.watcher.close()
	b.mu.Lock()
	b.closed = true
	var ids []clientv3.LeaseID
	for _, s := range b.spares {
		for _, sp := range s {
			ids = append(ids, sp.id)
		}
	}
	b.spares = nil
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	for _, id := range ids {
		_, _ = b.c.Revoke(ctx, id)
	}
	b.background.Wait()
	if b.owned {
		return b.c.Close()
	}
	return nil
}
