package etcd_test

import (
	"context"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/distlock/lock"
	"github.com/distlock/lock/etcd"
	"github.com/distlock/lock/locktest"
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
		Endpoints:   strings.Split(u.Host, ","),
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
// through one Lock and keeps them alive (locktest.Burst): no call fails,
// no lease is lost.
func TestBurstAndKeepAlive(t *testing.T) {
	c, _ := countedClient(t)
	l := mustNew(t, c, nil)
	defer l.Close()
	// ttl: above the burst's length on a loaded machine; the race
	// detector slows the in-process etcd several times over.
	n, ttl := 2000, 5*time.Second
	if raceEnabled {
		n = 500
	}
	took, _ := locktest.Burst(t, l, n, ttl, nil)
	t.Logf("%d concurrent TryAcquire: %v", n, took.Round(time.Millisecond))
}

// TestCrowdOfWaiters has hundreds of goroutines wait, through two Lock
// values on two clients (two scopes, as two processes), for a key another
// Lock holds (locktest.Crowd): while the holder lives, each Lock sends
// about one request a second, not one per waiter.
func TestCrowdOfWaiters(t *testing.T) {
	holder := mustNew(t, testClient(t), nil)
	defer holder.Close()
	var (
		waiters []lock.Lock
		sent    []func() int64
	)
	for range 2 {
		c, n := countedClient(t)
		w := mustNew(t, c, &etcd.Options{Options: lock.Options{RetryInterval: 50 * time.Millisecond}})
		defer w.Close()
		waiters, sent = append(waiters, w), append(sent, n.Load)
	}
	locktest.Crowd(t, holder, waiters, sent, 400, 3*time.Second)
}
