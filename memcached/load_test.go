package memcached_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/leasecheck"
	"github.com/distlock/lock/locktest/faultproxy"
	"github.com/distlock/lock/memcached"
)

// burstSize is how many calls TestBurst makes at once: the race detector
// allows 8128 live goroutines, so it gets fewer.
func burstSize() int {
	if raceEnabled {
		return 4000
	}
	return 10000
}

// countingDial counts the connections it wraps (see wrapDial) and those
// open at once, keeping the most.
type countingDial struct {
	open, most, dials atomic.Int32
}

func (d *countingDial) wrap(c net.Conn) net.Conn {
	d.dials.Add(1)
	n := d.open.Add(1)
	for m := d.most.Load(); n > m && !d.most.CompareAndSwap(m, n); m = d.most.Load() {
	}
	return &closeCounted{Conn: c, d: d}
}

type closeCounted struct {
	net.Conn
	d    *countingDial
	once sync.Once
}

func (c *closeCounted) Close() error {
	c.once.Do(func() { c.d.open.Add(-1) })
	return c.Conn.Close()
}

// smallServer returns the address of a memcached of its own that accepts
// only 64 connections, or of the fake when LOCK_TEST_MEMCACHED_BIN is not
// set.
func smallServer(t *testing.T) string {
	if os.Getenv("LOCK_TEST_MEMCACHED_BIN") == "" {
		srv, _ := startFake(t, nil)
		return srv.Addr()
	}
	addr, _ := startMemcached(t, "-c", "64")
	return addr
}

// TestBurst: thousands of goroutines, each a TryAcquire and a Release of
// its own key at once through one Lock, all succeed against a memcached
// that accepts only 64 connections, on at most PoolSize connections.
func TestBurst(t *testing.T) {
	addr := smallServer(t)
	var d countingDial
	const pool = 4
	// Timeouts long enough for a dial under the race detector on a loaded
	// machine: the subject is the bound on connections, not the dial.
	opts := &memcached.Options{PoolSize: pool, Timeout: 5 * time.Second, CallTimeout: 20 * time.Second}
	l, err := memcached.DialWith(t.Context(), []string{addr}, opts, wrapDial(d.wrap))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n := burstSize()
	start := make(chan struct{})
	var (
		wg     sync.WaitGroup
		failed atomic.Int32
		first  atomic.Value
	)
	for i := range n {
		wg.Go(func() {
			<-start
			key := fmt.Sprint("burst:", i)
			s, err := l.TryAcquire(t.Context(), key, time.Minute)
			if err == nil {
				err = s.Release(t.Context())
			}
			if err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Errorf("%d of %d concurrent TryAcquire+Release failed; first: %v", f, n, first.Load())
	}
	if m := d.most.Load(); m > pool {
		t.Errorf("connections open at once: %d; want at most pool_size %d", m, pool)
	}
	t.Logf("%d concurrent cycles on %d connections", n, d.most.Load())
}

// TestLateReplyDropped: a call whose ctx ends while its command is in
// flight returns at once, and its reply, read later on the same
// connection, is not taken as the answer of the command sent after it.
func TestLateReplyDropped(t *testing.T) {
	srv, _ := startFake(t, nil)
	p, err := faultproxy.Start(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := t.Context()
	holder := dialLock(t, []string{srv.Addr()}, nil)
	if ok, err := holder.TryAcquireLock(ctx, "held", time.Minute); !ok || err != nil {
		t.Fatalf("TryAcquireLock(held) = %v, %v", ok, err)
	}
	var d countingDial
	l, err := memcached.DialWith(ctx, []string{p.Addr()}, &memcached.Options{PoolSize: 1}, wrapDial(d.wrap))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	p.Latency(150 * time.Millisecond) // per chunk the proxy reads: the second reply comes after 300ms
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	ok, err := l.TryAcquireLock(cctx, "held", time.Minute) // its reply: not stored
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 50*time.Millisecond+margin {
		t.Fatalf("TryAcquireLock with a 50ms deadline behind 150ms of latency = %v, %v after %v; want context.DeadlineExceeded within %v", ok, err, took, 50*time.Millisecond+margin)
	}
	// Sent after it, on the same connection: the reply read first is the
	// late one.
	if ok, err := l.TryAcquireLock(ctx, "free", time.Minute); !ok || err != nil {
		t.Fatalf("TryAcquireLock(free) after a call cut short = %v, %v; want true (the late reply was taken as its answer?)", ok, err)
	}
	p.Pass()
	if ok, err := l.TryAcquireLock(ctx, "held", time.Minute); ok || err != nil {
		t.Errorf("TryAcquireLock(held) = %v, %v; want false", ok, err)
	}
	if got := d.dials.Load(); got != 1 {
		t.Errorf("connections dialled: %d; want 1 (a call cut short does not end its connection)", got)
	}
}

// TestQueuedCallsCancelled: many calls in flight on one connection to a
// server that stopped answering all return when their ctx ends, and the
// connection is closed after Timeout, so calls after the server comes back
// succeed on a new one.
func TestQueuedCallsCancelled(t *testing.T) {
	srv, _ := startFake(t, nil)
	l := dialLock(t, []string{srv.Addr()}, &memcached.Options{PoolSize: 1, Timeout: 200 * time.Millisecond})
	ctx := t.Context()
	if ok, err := l.TryAcquireLock(ctx, "warm", time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	srv.Stall()
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			start := time.Now()
			_, err := l.TryAcquireLock(cctx, fmt.Sprint("q", i), time.Minute)
			if took := time.Since(start); !errors.Is(err, context.Canceled) || took > 100*time.Millisecond+margin {
				errs <- fmt.Errorf("call %d cancelled after 100ms = %v after %v; want context.Canceled within %v", i, err, took, 100*time.Millisecond+margin)
			}
		})
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	srv.Resume()
	// The stalled server never answers the commands it read meanwhile, as a
	// network that drops replies: the next reply on that connection is a
	// later command's, which its opaque number exposes, and the connection
	// ends (or the abandoned commands' timeout ends it first). The first
	// call after may so fail in transit; the Lock decides the resend, and a
	// wait is what must succeed.
	if err := l.AcquireLock(ctx, "after", time.Minute, 15*time.Second); err != nil { // a margin for a loaded machine: one CI run under -race saw 5s run out
		t.Errorf("AcquireLock after the server came back = %v; want nil", err)
	}
}

// raceEnabled is set when the tests run with the race detector.
var raceEnabled bool

// keepAlive acquires the keys prefix+0 .. prefix+(n-1) on l for ttl, and
// keeps each lease alive.
func keepAlive(t *testing.T, l lock.Lock, prefix string, n int, ttl time.Duration) []*lock.Lease {
	t.Helper()
	leases := make([]*lock.Lease, n)
	for i := range leases {
		s, err := l.TryAcquire(t.Context(), fmt.Sprint(prefix, i), ttl)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.KeepAlive(t.Context(), 0); err != nil {
			t.Fatal(err)
		}
		leases[i] = s
	}
	return leases
}

// TestKeepAliveLoad: 2,000 leases kept alive through one Lock on a server
// that accepts 64 connections all last, with no loss, past their ttl.
func TestKeepAliveLoad(t *testing.T) {
	t.Parallel() // real time
	addr := smallServer(t)
	l := dialLock(t, []string{addr}, nil)
	const n, ttl = 2000, 2 * time.Second
	leases := keepAlive(t, l, "kept:", n, ttl)
	time.Sleep(ttl + time.Second) // real time: the leases must outlive their ttl
	lost := 0
	for _, s := range leases {
		if s.Err() != nil {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d leases kept alive were lost", lost, n)
	}
}

// TestKeepAliveBatch: leases of one Lock kept alive together are extended
// in one write; one whose key was deleted behind its back ends, one whose
// cas id another client changed (the same token stored again) is read back
// and kept, and the others go on.
func TestKeepAliveBatch(t *testing.T) {
	t.Parallel() // real time
	srv, c := startFake(t, nil)
	l := dialLock(t, []string{srv.Addr()}, nil)
	const n, ttl = 50, 2 * time.Second
	leases := keepAlive(t, l, "batch:", n, ttl)
	if err := c.Delete(memcached.DefaultPrefix + "batch:7"); err != nil {
		t.Fatal(err)
	}
	it, err := c.Get(memcached.DefaultPrefix + "batch:8")
	if err != nil {
		t.Fatal(err)
	}
	it.Expiration = 60
	if err := c.CompareAndSwap(it); err != nil { // the same token, a new cas id
		t.Fatal(err)
	}
	time.Sleep(ttl + time.Second) // real time: the leases must outlive their ttl
	leasecheck.OneLost(t, leases, 7, "past its ttl")
}
