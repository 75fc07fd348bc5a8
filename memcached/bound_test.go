package memcached_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/testnet"
	"github.com/distlock/lock/memcached"
)

// margin is how long after its bound a call may return: the time to notice
// a deadline, on a loaded machine.
const margin = 50 * time.Millisecond

// stalledLocks returns a Lock made by Dial with opts on a fake server, and
// a lease it holds on key "held", after which the server stops answering.
func stalledLocks(t *testing.T, opts *memcached.Options) (lock.Lock, *lock.Lease) {
	t.Helper()
	srv, _ := startFake(t, nil)
	l := dialLock(t, []string{srv.Addr()}, opts)
	s, err := l.TryAcquire(t.Context(), "held", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stall()
	t.Cleanup(srv.Resume) // before the Lock's Close, which releases s
	return l, s
}

// boundedOps are the calls of a Lock on a stalled server, each made with
// ctx: they must all return within the call's bound.
func boundedOps(l lock.Lock, s *lock.Lease) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"TryAcquireLock": func(ctx context.Context) error {
			_, err := l.TryAcquireLock(ctx, "free", time.Minute)
			return err
		},
		"Extend": func(ctx context.Context) error { return s.Extend(ctx, time.Minute) },
	}
}

// TestBoundNoDeadline: with no deadline in ctx, a call on a server that
// stopped answering fails within CallTimeout (the default, 1s), retries
// included, with an error matching lock.ErrUnavailable.
func TestBoundNoDeadline(t *testing.T) {
	t.Parallel() // real time: it waits for timeouts and deadlines
	l, s := stalledLocks(t, nil)
	for name, op := range boundedOps(l, s) {
		start := time.Now()
		err := op(context.Background())
		took := time.Since(start)
		t.Logf("%s on a stalled server, no deadline: %v after %v", name, err, took)
		if !errors.Is(err, lock.ErrUnavailable) {
			t.Errorf("%s on a stalled server = %v; want an error matching lock.ErrUnavailable", name, err)
		}
		if took > memcached.DefaultCallTimeout+margin {
			t.Errorf("%s on a stalled server took %v; want at most %v", name, took, memcached.DefaultCallTimeout+margin)
		}
	}
}

// TestBoundDeadline: a call returns by its ctx's deadline, with an error
// matching context.DeadlineExceeded.
func TestBoundDeadline(t *testing.T) {
	t.Parallel() // real time: it waits for timeouts and deadlines
	l, s := stalledLocks(t, nil)
	for name, op := range boundedOps(l, s) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		err := op(ctx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with a 100ms deadline on a stalled server = %v; want an error matching context.DeadlineExceeded", name, err)
		}
		if took > 100*time.Millisecond+margin {
			t.Errorf("%s with a 100ms deadline on a stalled server took %v; want at most %v", name, took, 100*time.Millisecond+margin)
		}
	}
}

// TestBoundCancel: cancelling a ctx with no deadline cuts a call short.
func TestBoundCancel(t *testing.T) {
	t.Parallel() // real time: it waits for timeouts and deadlines
	l, s := stalledLocks(t, nil)
	for name, op := range boundedOps(l, s) {
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := op(ctx)
		took := time.Since(start)
		timer.Stop()
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled after 100ms on a stalled server = %v; want an error matching context.Canceled", name, err)
		}
		if took > 100*time.Millisecond+margin {
			t.Errorf("%s cancelled after 100ms on a stalled server took %v; want at most %v", name, took, 100*time.Millisecond+margin)
		}
	}
}

// TestBoundCallTimeout: Options.CallTimeout sets the bound.
func TestBoundCallTimeout(t *testing.T) {
	const bound = 300 * time.Millisecond
	l, s := stalledLocks(t, &memcached.Options{CallTimeout: bound, Timeout: 100 * time.Millisecond})
	for name, op := range boundedOps(l, s) {
		start := time.Now()
		err := op(context.Background())
		if took := time.Since(start); took > bound+margin || !errors.Is(err, lock.ErrUnavailable) {
			t.Errorf("%s with call_timeout %v on a stalled server = %v after %v; want lock.ErrUnavailable within %v", name, bound, err, took, bound+margin)
		}
	}
}

// TestDialBlackHole: Dial of a server that accepts and never answers fails
// within CallTimeout, or by ctx's deadline.
func TestDialBlackHole(t *testing.T) {
	t.Parallel() // real time: it waits for timeouts and deadlines
	addr := testnet.Silent(t)
	start := time.Now()
	if l, err := memcached.Dial(context.Background(), []string{addr}, nil); err == nil {
		l.Close()
		t.Fatal("Dial of a server that never answers succeeded")
	}
	if took := time.Since(start); took > memcached.DefaultCallTimeout+margin {
		t.Errorf("Dial of a server that never answers took %v; want at most %v", took, memcached.DefaultCallTimeout+margin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if l, err := memcached.Dial(ctx, []string{addr}, nil); !errors.Is(err, context.DeadlineExceeded) {
		if l != nil {
			l.Close()
		}
		t.Errorf("Dial with a 100ms deadline of a server that never answers = %v; want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 100*time.Millisecond+margin {
		t.Errorf("Dial with a 100ms deadline of a server that never answers took %v", took)
	}
}

// TestOutOfStepConnectionNotReused: the fake, stalled, reads commands and
// drops them unanswered, as a proxy that loses replies would. The replies
// that come after it resumes echo the opaque numbers of later commands:
// the connection is closed rather than read out of step, and the calls go
// on, on one new connection. (TestLateReplyDropped checks a reply that is
// late, not lost.)
func TestOutOfStepConnectionNotReused(t *testing.T) {
	srv, _ := startFake(t, nil)
	l := dialLock(t, []string{srv.Addr()}, nil)
	ctx := t.Context()
	s, err := l.TryAcquire(ctx, "held", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stall()
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = s.Extend(cctx, time.Minute)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Extend on a stalled server = %v; want context.DeadlineExceeded", err)
	}
	before := srv.TotalConnections()
	srv.Resume()
	for i := range 3 {
		key := string(rune('a' + i))
		if ok, err := l.TryAcquireLock(ctx, key, time.Minute); !ok || err != nil {
			t.Fatalf("TryAcquireLock(%q) after the stall = %v, %v; want true", key, ok, err)
		}
	}
	if got := srv.TotalConnections() - before; got != 1 {
		t.Errorf("connections opened after replies were lost: %d; want 1 (the old one closed, the new one kept)", got)
	}
}

// TestNoChurn: sequential and parallel calls reuse pooled connections.
func TestNoChurn(t *testing.T) {
	srv, _ := startFake(t, nil)
	l := dialLock(t, []string{srv.Addr()}, &memcached.Options{PoolSize: 4})
	ctx := t.Context()
	for range 100 {
		s, err := l.TryAcquire(ctx, "seq", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.TotalConnections(); got != 1 {
		t.Errorf("connections for 100 sequential cycles: %d; want 1", got)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			key := string(rune('a' + g))
			for range 100 {
				s, err := l.TryAcquire(ctx, key, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Release(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := srv.TotalConnections(); got > 4 {
		t.Errorf("connections for 4×100 parallel cycles with pool_size 4: %d; want at most 4", got)
	}
}

// TestOldServer: Dial refuses a server that does not know the meta
// commands (memcached before 1.6), saying so.
func TestOldServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			if sc.Text() == "stats" {
				c.Write([]byte("STAT pid 1\r\nSTAT uptime 5\r\nSTAT time 1700000000\r\nSTAT version 1.5.22\r\nEND\r\n"))
				continue
			}
			c.Write([]byte("ERROR\r\n"))
		}
	})
	l, err := memcached.Dial(t.Context(), []string{ln.Addr().String()}, nil)
	if err == nil {
		l.Close()
		t.Fatal("Dial of a memcached 1.5 succeeded; want an error")
	}
	if !strings.Contains(err.Error(), "1.6") {
		t.Errorf("Dial of a memcached 1.5 = %v; want an error naming memcached 1.6", err)
	}
}
