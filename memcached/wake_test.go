package memcached_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memcached"
)

// replySpy is a connection that calls seen once, when a read returns a
// reply that starts with prefix.
type replySpy struct {
	net.Conn
	prefix []byte
	seen   func()
}

func (c replySpy) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if bytes.HasPrefix(p[:n], c.prefix) {
		c.seen()
	}
	return n, err
}

// spyDialer returns a dialer whose connections call seen when a reply
// starting with prefix arrives.
func spyDialer(prefix string, seen func()) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return wrapDial(func(c net.Conn) net.Conn { return replySpy{c, []byte(prefix), seen} })
}

// TestWaitWokenByLocalRelease checks that a release through one Lock wakes
// at once a wait on the same key through another Lock of the process, over
// the same servers. The retry interval is an hour, so that a wait that
// polled would make its next attempt minutes after the test's deadline.
func TestWaitWokenByLocalRelease(t *testing.T) {
	slow := &memcached.Options{Options: lock.Options{RetryInterval: time.Hour}}
	for _, tc := range []struct {
		name string
		// locks returns the holder's Lock and the waiter's, whose
		// connections call refused when the waiter's add is refused.
		locks func(t *testing.T, refused func()) (holder, waiter lock.Lock)
	}{
		{"Meta", func(t *testing.T, refused func()) (lock.Lock, lock.Lock) {
			srv, _ := startFake(t, nil)
			waiter, err := memcached.DialWith(t.Context(), []string{srv.Addr()}, slow, spyDialer("NS", refused))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { waiter.Close() })
			return dialLock(t, []string{srv.Addr()}, slow), waiter
		}},
		{"Classic", func(t *testing.T, refused func()) (lock.Lock, lock.Lock) {
			srv, _ := startFake(t, nil)
			c := memcache.New(srv.Addr()) // one client, as New's Locks of a process share theirs
			c.DialContext = spyDialer("NOT_STORED", refused)
			t.Cleanup(func() { c.Close() })
			holder, err := memcached.New(c, slow)
			if err != nil {
				t.Fatal(err)
			}
			waiter, err := memcached.New(c, slow)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { holder.Close(); waiter.Close() })
			return holder, waiter
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := make(chan struct{})
			holder, waiter := tc.locks(t, sync.OnceFunc(func() { close(refused) }))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			s, err := holder.TryAcquire(ctx, "woken", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan error, 1)
			go func() {
				w, err := waiter.Acquire(ctx, "woken", time.Minute)
				if err == nil {
					err = w.Release(ctx)
				}
				got <- err
			}()
			select { // the wait's first attempt found the key held
			case <-refused:
			case <-ctx.Done():
				t.Fatal("the wait's first attempt was not refused")
			}
			if err := s.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-got; err != nil {
				t.Fatalf("Acquire after a release in the same process = %v; want the lock, woken by the release instead of a poll an hour away", err)
			}
		})
	}
}
