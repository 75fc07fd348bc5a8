package lock_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distlock/lock"
)

// countingBackend counts the calls that reach the store.
type countingBackend struct {
	*mapBackend
	calls atomic.Int32
}

func (b *countingBackend) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	b.calls.Add(1)
	return b.mapBackend.Acquire(ctx, key, token, ttl)
}

func (b *countingBackend) Release(ctx context.Context, key, token string) (bool, error) {
	b.calls.Add(1)
	return b.mapBackend.Release(ctx, key, token)
}

// TestQueueOrderAndCommands: goroutines sharing one Lock and waiting for
// one key get it in the order they began to wait, and each hand-off from
// one of them to the next costs the store two calls (the release and the
// next acquire), however many wait. The first, which waits for a holder of
// another Lock, polls as before.
func TestQueueOrderAndCommands(t *testing.T) {
	for _, n := range []int{1, 8, 32, 128} {
		synctest.Test(t, func(t *testing.T) {
			b := &countingBackend{mapBackend: newMap()}
			l := lock.New(b, nil)
			defer l.Close()
			testQueue(t, b, n, func(int) lock.Lock { return l })
		})
	}
}

// scopedBackend names a scope, which the Locks over it share.
type scopedBackend struct{ *countingBackend }

func (scopedBackend) Scope() string { return "the test's store" }

// TestQueueAcrossLocks: waits of different Lock values over one store
// (the same driver.Scoper scope) share one queue.
func TestQueueAcrossLocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &countingBackend{mapBackend: newMap()}
		var ls []lock.Lock
		for range 4 {
			l := lock.New(scopedBackend{b}, nil)
			defer l.Close()
			ls = append(ls, l)
		}
		testQueue(t, b, 32, func(i int) lock.Lock { return ls[i%len(ls)] })
	})
}

// testQueue starts n waits, the i-th on lockOf(i), one after the other,
// for a key that a Lock outside them holds, and checks that they get it in
// that order, with two store calls per hand-off.
func testQueue(t *testing.T, b *countingBackend, n int, lockOf func(i int) lock.Lock) {
	other := lock.New(b.mapBackend, nil)
	defer other.Close()
	ctx := t.Context()
	holder, err := other.TryAcquire(ctx, "k", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
		start = make(chan struct{})
		took  = make(chan struct{}) // the first took the key
	)
	for i := range n {
		wg.Go(func() {
			s, err := lockOf(i).Acquire(ctx, "k", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			if len(order) == 1 {
				close(took)
			}
			mu.Unlock()
			<-start // the first holds the key until all have queued
			time.Sleep(time.Millisecond)
			if err := s.Release(ctx); err != nil {
				t.Error(err)
			}
		})
		synctest.Wait() // waiting, in the queue, before the next starts
	}
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
	<-took
	before := b.calls.Load()
	close(start)
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("%d waits: order of acquisition %v; want the order they began to wait", n, order)
		}
	}
	// The first's release, then one acquire and one release each.
	if got, want := int(b.calls.Load()-before), 2*n-1; got != want {
		t.Errorf("%d waits: %d store calls for %d hand-offs; want %d", n, got, n-1, want)
	}
}

// TestQueueLeave: a queued wait whose ctx ends returns at once and leaves
// the queue; the waits behind it move up.
func TestQueueLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := lock.New(newMap(), nil)
		defer l.Close()
		ctx := t.Context()
		held, err := l.TryAcquire(ctx, "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		first := make(chan error, 1)
		go func() {
			s, err := l.Acquire(ctx, "k", time.Minute)
			if err == nil {
				err = s.Release(ctx)
			}
			first <- err
		}()
		synctest.Wait()
		cctx, cancel := context.WithCancel(ctx)
		second := make(chan error, 1)
		go func() {
			_, err := l.Acquire(cctx, "k", time.Minute)
			second <- err
		}()
		third := make(chan error, 1)
		go func() {
			s, err := l.Acquire(ctx, "k", time.Minute)
			if err == nil {
				err = s.Release(ctx)
			}
			third <- err
		}()
		synctest.Wait()
		cancel()
		synctest.Wait()
		select {
		case err := <-second:
			if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.Canceled) {
				t.Errorf("queued Acquire cancelled = %v; want ErrNotAcquired and context.Canceled", err)
			}
		default:
			t.Fatal("a queued Acquire did not return when its ctx ended")
		}
		if err := held.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-first; err != nil {
			t.Error(err)
		}
		if err := <-third; err != nil {
			t.Errorf("the wait behind a cancelled one = %v; want the key", err)
		}
	})
}

// TestQueueTimeout: a queued AcquireLock whose timeout passes (the head
// ahead of it waiting for another Lock's holder) fails with ErrNotAcquired
// at its timeout, not before.
func TestQueueTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMap()
		l := lock.New(b, nil)
		defer l.Close()
		other := lock.New(b, nil)
		defer other.Close()
		ctx := t.Context()
		if ok, err := other.TryAcquireLock(ctx, "k", time.Hour); !ok || err != nil {
			t.Fatal(ok, err)
		}
		hctx, stop := context.WithCancel(ctx)
		defer stop()
		go l.AcquireLock(hctx, "k", time.Minute, time.Hour) // the head, polling
		synctest.Wait()
		start := time.Now()
		err := l.AcquireLock(ctx, "k", time.Minute, 300*time.Millisecond)
		if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("queued AcquireLock on a held key = %v; want ErrNotAcquired and context.DeadlineExceeded", err)
		}
		if took := time.Since(start); took != 300*time.Millisecond {
			t.Errorf("queued AcquireLock returned after %v; want its 300ms timeout", took)
		}
	})
}

// ttlBackend tells a wait the holder's remaining ttl, and has a Watcher
// that never wakes it: every wake-up is lost.
type ttlBackend struct {
	*mapBackend
	attempts atomic.Int32
}

func (b *ttlBackend) Watch(string) <-chan struct{} { return nil }

func (b *ttlBackend) AcquireOrTTL(ctx context.Context, key, token string, ttl time.Duration) (bool, time.Duration, error) {
	b.attempts.Add(1)
	ok, err := b.Acquire(ctx, key, token, ttl)
	if ok || err != nil {
		return ok, 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return false, time.Until(b.items[key].expires), nil
}

// TestLostWakeUpPolls: a wait told that the holder's lock has an hour left
// sleeps, but looks again within a second, so a release whose wake-up was
// lost still hands it the key; meanwhile it makes one attempt a second.
func TestLostWakeUpPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &ttlBackend{mapBackend: newMap()}
		l := lock.New(b, nil)
		defer l.Close()
		other := lock.New(b.mapBackend, nil)
		defer other.Close()
		ctx := t.Context()
		held, err := other.TryAcquire(ctx, "k", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan time.Time, 1)
		start := time.Now()
		go func() {
			s, err := l.Acquire(ctx, "k", time.Minute)
			if err != nil {
				t.Error(err)
			}
			got <- time.Now()
			s.Release(ctx)
		}()
		time.Sleep(10*time.Second + time.Millisecond)
		if n := b.attempts.Load(); n > 11 {
			t.Errorf("a wait made %d attempts in 10s on a holder with an hour left; want one a second", n)
		}
		held.Release(ctx) // no wake-up
		if took := (<-got).Sub(start); took > 11*time.Second {
			t.Errorf("the key, released at 10s with its wake-up lost, was taken at %v; want within a second", took)
		}
	})
}
