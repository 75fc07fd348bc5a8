package memcached_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock/internal/countconn"
)

// TestRoundTrips counts the round trips of each operation: acquire 1 (held
// or not), release 2, extend 2, as the package doc says.
func TestRoundTrips(t *testing.T) {
	srv, _ := startFake(t, nil)
	var writes countconn.Counter
	c := memcache.New(srv.Addr())
	c.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return writes.Wrap(conn), nil
	}
	defer c.Close()
	l, rival := newFakeLock(t, c, 0), newFakeLock(t, c, 0)
	ctx := t.Context()
	count := func(op string, want int, f func() error) {
		t.Helper()
		writes.Swap(0)
		if err := f(); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if got := writes.Swap(0); got != want {
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
