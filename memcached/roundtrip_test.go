package memcached_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// countingConn counts the writes on a connection: gomemcache flushes each
// command in one write and then reads its answer, so writes are round trips.
type countingConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// TestRoundTrips counts the round trips of each operation: acquire 1 (held
// or not), release 2, extend 2, as the package doc says.
func TestRoundTrips(t *testing.T) {
	srv, _ := startFake(t, nil)
	var writes atomic.Int32
	c := memcache.New(srv.Addr())
	c.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return countingConn{conn, &writes}, err
	}
	defer c.Close()
	l, rival := newFakeLock(t, c, 0), newFakeLock(t, c, 0)
	ctx := t.Context()
	count := func(op string, want int32, f func() error) {
		t.Helper()
		writes.Store(0)
		if err := f(); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if got := writes.Load(); got != want {
			t.Errorf("%s took %d round trips; want %d", op, got, want)
		}
	}
	var lease interface {
		Release(context.Context) error
		Extend(context.Context, time.Duration) error
	}
	count("acquire", 1, func() (err error) { lease, err = l.TryAcquire(ctx, "k", time.Minute); return err })
	count("acquire of a held key", 1, func() error { _, err := rival.TryAcquireLock(ctx, "k", time.Minute); return err })
	count("extend", 2, func() error { return lease.Extend(ctx, time.Minute) })
	count("release", 2, func() error { return lease.Release(ctx) })
}
