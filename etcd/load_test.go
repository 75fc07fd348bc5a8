package etcd_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/distlock/lock"
	"github.com/distlock/lock/etcd"
)

// raceEnabled is set by race_test.go under the race detector.
var raceEnabled bool

// countedClient returns a client of the test cluster whose requests
// (unary calls, and streams opened) are counted.
func countedClient(t *testing.T) (*clientv3.Client, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	n := new(atomic.Int64)
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   splitHosts(u.Host),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{
			grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				n.Add(1)
				return invoker(ctx, method, req, reply, cc, opts...)
			}),
			grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				n.Add(1)
				return streamer(ctx, desc, cc, method, opts...)
			}),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, n
}

// TestBurstAndKeepAlive makes thousands of concurrent acquisitions
// through one Lock, keeps each alive from its acquisition past its ttl,
// and releases them at once: no call fails, no lease is lost.
func TestBurstAndKeepAlive(t *testing.T) {
	c, _ := countedClient(t)
	l := mustNew(t, c, nil)
	defer l.Close()
	// ttl: above the burst's length on a loaded machine (a lease whose
	// acquisition queued past its ttl is born expired); the race detector
	// slows the in-process etcd several times over.
	n, ttl := 2000, 5*time.Second
	if raceEnabled {
		n = 500
	}
	ctx := context.Background()
	run := fmt.Sprintf("burst:%d:", time.Now().UnixNano())
	leases := make([]*lock.Lease, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			s, err := l.TryAcquire(ctx, fmt.Sprint(run, i), ttl)
			if err == nil {
				err = s.KeepAlive(ctx, 0)
			}
			if err != nil {
				errs <- err
				return
			}
			leases[i] = s
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a TryAcquire of the burst failed: %v", err)
	}
	t.Logf("%d concurrent TryAcquire: %v", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(ttl + time.Second) // real time is the subject: keep-alives past the ttl
	for i, s := range leases {
		if err := s.Err(); err != nil {
			t.Fatalf("lease %d lost under the keep-alive of %d leases: %v", i, n, err)
		}
	}
	errs = make(chan error, n)
	for _, s := range leases {
		wg.Go(func() {
			if err := s.Release(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a Release of the burst failed: %v", err)
	}
}

// TestCrowdOfWaiters has hundreds of goroutines wait, through two Lock
// values on two clients (two scopes, as two processes), for a key another
// Lock holds: while the holder lives, each Lock sends about one request a
// second, not one per waiter; after the release, every waiter gets the
// lock in turn.
func TestCrowdOfWaiters(t *testing.T) {
	holder := mustNew(t, testClient(t), nil)
	defer holder.Close()
	var (
		waiters []lock.Lock
		counts  []*atomic.Int64
	)
	for range 2 {
		c, n := countedClient(t)
		w := mustNew(t, c, &etcd.Options{Options: lock.Options{RetryInterval: 50 * time.Millisecond}})
		defer w.Close()
		waiters, counts = append(waiters, w), append(counts, n)
	}
	ctx := context.Background()
	key := fmt.Sprintf("crowd:%d", time.Now().UnixNano())
	s, err := holder.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const crowd = 400
	var (
		wg       sync.WaitGroup
		acquired atomic.Int64
		started  sync.WaitGroup
	)
	started.Add(crowd)
	for i := range crowd {
		wg.Go(func() {
			started.Done()
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			w, err := waiters[i%2].Acquire(wctx, key, time.Minute)
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			acquired.Add(1)
			if err := w.Release(ctx); err != nil {
				t.Errorf("waiter %d: release: %v", i, err)
			}
		})
	}
	started.Wait()
	time.Sleep(time.Second) // the first attempts, and the watch set up
	before := []int64{counts[0].Load(), counts[1].Load()}
	const hold = 3 * time.Second
	time.Sleep(hold) // real time is the subject: the waiters' rate while the holder lives
	for i, n := range counts {
		sent := n.Load() - before[i]
		if max := int64(hold/time.Second) + 2; sent > max {
			t.Errorf("Lock %d sent %d requests for %d waits in %v of a live holder; want at most %d", i, sent, crowd/2, hold, max)
		}
		t.Logf("Lock %d: %d requests for %d waits in %v of a live holder", i, sent, crowd/2, hold)
	}
	if n := acquired.Load(); n != 0 {
		t.Fatalf("%d waiters acquired a held lock", n)
	}
	released := time.Now()
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := acquired.Load(); n != crowd {
		t.Fatalf("%d of %d waiters acquired the lock", n, crowd)
	}
	t.Logf("%d hand-offs in %v", crowd, time.Since(released).Round(time.Millisecond))
}
