package memcached_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/countconn"
	"github.com/distlock/lock/memcached"
)

// TestRoundTrips counts the round trips of each operation, as the package
// doc says: through the meta protocol (Dial), acquire 1 (held or not),
// extend 1, release 1; through the classic one (New), acquire 1, extend 2,
// release 2. A release after an extend whose reply was lost does not know
// the lock's cas id: it reads it, 3 round trips.
func TestRoundTrips(t *testing.T) {
	srv, _ := startFake(t, nil)
	var writes countconn.Counter
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return writes.Wrap(conn), nil
	}
	t.Run("Meta", func(t *testing.T) {
		newLock := func(opts *memcached.Options) lock.Lock {
			l, err := memcached.DialWith(t.Context(), []string{srv.Addr()}, opts, dial)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l
		}
		l, rival := newLock(nil), newLock(nil)
		countRoundTrips(t, &writes, l, rival, 1, 1, 1)

		// An extend that lands but fails (never resent by the backend)
		// leaves the cas id this Lock knows behind the server's.
		none := newLock(nil)
		s, err := none.TryAcquire(t.Context(), "stale", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		srv.DropNextReply("ms")
		if err := s.Extend(t.Context(), time.Minute); err == nil {
			t.Fatal("Extend with its reply lost succeeded; want an error")
		}
		if _, err := none.TryAcquire(t.Context(), "redial", time.Minute); err != nil {
			t.Fatal(err) // the server closed the connection: open another one
		}
		writes.Swap(0)
		if err := s.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := writes.Swap(0); got != 3 {
			t.Errorf("release with a stale cas id took %d round trips; want 3 (delete, read, delete)", got)
		}
	})
	t.Run("Classic", func(t *testing.T) {
		c := memcache.New(srv.Addr())
		c.DialContext = dial
		t.Cleanup(func() { c.Close() })
		countRoundTrips(t, &writes, newLock(t, c), newLock(t, c), 1, 2, 2)
	})
}

// countRoundTrips checks the round trips of acquire, extend and release
// through l, and of an acquire of the held key through rival, counted by
// writes.
func countRoundTrips(t *testing.T, writes *countconn.Counter, l, rival lock.Lock, acquire, extend, release int) {
	t.Helper()
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
	var lease *lock.Lease
	count("acquire", acquire, func() (err error) { lease, err = l.TryAcquire(ctx, "k", time.Minute); return err })
	count("acquire of a held key", acquire, func() error { _, err := rival.TryAcquireLock(ctx, "k", time.Minute); return err })
	count("extend", extend, func() error { return lease.Extend(ctx, time.Minute) })
	count("release", release, func() error { return lease.Release(ctx) })
}
