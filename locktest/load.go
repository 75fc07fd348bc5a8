package locktest

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distlock/lock"
)

// The load checks of a backend on a real store, beyond the suite: a burst
// of acquisitions kept alive, a crowd of waiters, and the hand-off
// benchmark. They sleep on real time, which is their subject.

// Burst makes n concurrent TryAcquire calls through l, keeps each lease
// alive from its acquisition for ttl and a second more, and releases them
// all at once. It fails t if a call fails or a lease is lost: a burst must
// queue for the store, not be refused, and must not starve the
// keep-alives. It returns how long the burst took, and, when sent counts
// the requests l's client makes, how many the keep-alives took. Choose ttl
// above the burst's length: a lease whose acquisition queued longer than
// its ttl is born expired.
func Burst(t *testing.T, l lock.Lock, n int, ttl time.Duration, sent func() int64) (took time.Duration, keptWith int64) {
	t.Helper()
	ctx := context.Background()
	prefix := "locktest:burst:" + rand.Text()[:10] + ":"
	leases := make([]*lock.Lease, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			s, err := l.TryAcquire(ctx, fmt.Sprint(prefix, i), ttl)
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
	took = time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatalf("a TryAcquire of a burst of %d failed: %v", n, err)
	}
	var before int64
	if sent != nil {
		before = sent()
	}
	time.Sleep(ttl + time.Second) // the leases outlive their ttl
	if sent != nil {
		keptWith = sent() - before
	}
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
		t.Fatalf("a Release of a burst of %d failed: %v", n, err)
	}
	return took, keptWith
}

// Crowd has n goroutines wait, spread over waiters (Lock values of
// different scopes, as processes on one store would be), for a key that
// holder holds for hold, and then take it in turn. While the holder lives,
// each waiter Lock may send the store at most one request a second, and
// two more, whatever its number of waits: sent[i] counts the requests of
// waiters[i]'s client. It fails t otherwise, or if a wait fails or takes
// the lock too early, and logs the figures.
func Crowd(t *testing.T, holder lock.Lock, waiters []lock.Lock, sent []func() int64, n int, hold time.Duration) {
	t.Helper()
	ctx := context.Background()
	key := "locktest:crowd:" + rand.Text()[:10]
	s, err := holder.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		acquired atomic.Int64
	)
	for i := range n {
		wg.Go(func() {
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			w, err := waiters[i%len(waiters)].Acquire(wctx, key, time.Minute)
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
	time.Sleep(time.Second) // the first attempts made, the wake-ups set up
	before := make([]int64, len(sent))
	for i, f := range sent {
		before[i] = f()
	}
	time.Sleep(hold)
	for i, f := range sent {
		got := f() - before[i]
		if max := int64(hold/time.Second) + 2; got > max {
			t.Errorf("Lock %d sent %d requests for %d waits in %v of a live holder; want at most %d", i, got, n/len(waiters), hold, max)
		}
		t.Logf("Lock %d: %d requests for %d waits in %v of a live holder", i, got, n/len(waiters), hold)
	}
	if got := acquired.Load(); got != 0 {
		t.Fatalf("%d waiters acquired a held lock", got)
	}
	released := time.Now()
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got := acquired.Load(); got != int64(n) {
		t.Fatalf("%d of %d waiters acquired the lock", got, n)
	}
	t.Logf("%d hand-offs in %v", n, time.Since(released).Round(time.Millisecond))
}

// BenchmarkHandOff measures the time from a release by holder to the
// moment a wait of waiter (another Lock value, of another scope where the
// backend has scopes) takes the lock, and reports its median (handoff-ms)
// and the share of hand-offs over 10ms. Make waiter with a long retry
// interval (a second): the wait must wake on the release, not on a poll.
// Each round lets the wait's first attempt be refused for settle before
// the release.
func BenchmarkHandOff(b *testing.B, holder, waiter lock.Lock, settle time.Duration) {
	b.Helper()
	ctx := context.Background()
	key := benchPrefix("handoff") + "k"
	var took []time.Duration
	for b.Loop() {
		s, err := holder.TryAcquire(ctx, key, benchTTL)
		if err != nil {
			b.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
		}
		got := make(chan time.Time)
		go func() {
			w, err := waiter.Acquire(ctx, key, benchTTL)
			at := time.Now()
			if err != nil {
				b.Error(err)
			} else {
				w.Release(ctx)
			}
			got <- at
		}()
		time.Sleep(settle)
		released := time.Now()
		if err := s.Release(ctx); err != nil {
			b.Fatal(err)
		}
		took = append(took, (<-got).Sub(released))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "handoff-ms")
	over := 0
	for _, d := range took {
		if d > 10*time.Millisecond {
			over++
		}
	}
	b.ReportMetric(float64(over)/float64(len(took)), "over10ms-share")
}
