package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/memory"
)

// BenchmarkCycle is one TryAcquire and Release of a lease.
func BenchmarkCycle(b *testing.B) {
	l := memory.New(nil)
	defer l.Close()
	locktest.BenchmarkCycle(b, l)
}

// BenchmarkCycleKeyed is one TryAcquireLock and ReleaseLock.
func BenchmarkCycleKeyed(b *testing.B) {
	l := memory.New(nil)
	defer l.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := l.TryAcquireLock(ctx, "k", time.Minute); !ok || err != nil {
			b.Fatal(ok, err)
		}
		if err := l.ReleaseLock(ctx, "k"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParallelDistinctKeys runs cycles on a key per goroutine, all on
// one store.
func BenchmarkParallelDistinctKeys(b *testing.B) {
	l := memory.NewStore(nil).Lock()
	defer l.Close()
	locktest.BenchmarkParallelDistinctKeys(b, l)
}

// BenchmarkContendedKey has every goroutine wait for one key: each
// iteration is one Acquire (waking on the previous holder's release) and
// Release.
func BenchmarkContendedKey(b *testing.B) {
	store := memory.NewStore(nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		l := store.Lock()
		defer l.Close()
		for pb.Next() {
			s, err := l.Acquire(ctx, "contended", time.Minute)
			if err != nil {
				b.Error(err)
				return
			}
			if err := s.Release(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkWakeLatency measures the time from a release to the moment a
// waiting Acquire on another Lock value returns, reported as wake-ns.
func BenchmarkWakeLatency(b *testing.B) {
	store := memory.NewStore(nil)
	holder, waiter := store.Lock(), store.Lock()
	defer holder.Close()
	defer waiter.Close()
	ctx := context.Background()
	var total time.Duration
	for b.Loop() {
		s, err := holder.TryAcquire(ctx, "wake", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		waiting := make(chan struct{})
		got := make(chan time.Time)
		go func() {
			close(waiting)
			w, err := waiter.Acquire(ctx, "wake", time.Minute)
			if err != nil {
				b.Error(err)
			}
			got <- time.Now()
			w.Release(ctx)
		}()
		<-waiting
		time.Sleep(100 * time.Microsecond) // let the waiter reach its wait
		released := time.Now()
		if err := s.Release(ctx); err != nil {
			b.Fatal(err)
		}
		total += (<-got).Sub(released)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "wake-ns")
}
