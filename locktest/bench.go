package locktest

import (
	"crypto/rand"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distlock/lock"
)

// benchTTL is the ttl of the benchmarks' locks: long enough that none
// expires during a run, short enough that a run cut short does not leave a
// real server holding keys for long.
const benchTTL = time.Minute

// benchPrefix returns a fresh key prefix for one benchmark run.
func benchPrefix(name string) string {
	return "locktest:bench:" + name + ":" + rand.Text()[:10] + ":"
}

// BenchmarkCycle measures one cycle on l: a TryAcquire of a lease and its
// Release, on one key, from one goroutine. A backend's benchmark makes l on
// the store it measures and calls it; the key is fresh for each call, so
// that several runs can share one real server. It reports allocations, and
// fails the benchmark at the first error.
func BenchmarkCycle(b *testing.B, l lock.Lock) {
	b.Helper()
	ctx := b.Context()
	key := benchPrefix("cycle") + "k"
	b.ReportAllocs()
	for b.Loop() {
		s, err := l.TryAcquire(ctx, key, benchTTL)
		if err != nil {
			b.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
		}
		if err := s.Release(ctx); err != nil {
			b.Fatalf("Lease.Release(%q) = %v; want nil", key, err)
		}
	}
}

// BenchmarkParallelDistinctKeys measures cycles (a TryAcquire of a lease and
// its Release, as BenchmarkCycle) from the goroutines of b.RunParallel
// (GOMAXPROCS of them, times b.SetParallelism), each on a key of its own,
// all through l: what one Lock value shared by a process's goroutines
// sustains when they do not contend. The keys are fresh for each call, as
// BenchmarkCycle's. It reports allocations; each goroutine stops at its
// first error, which fails the benchmark.
func BenchmarkParallelDistinctKeys(b *testing.B, l lock.Lock) {
	b.Helper()
	ctx := b.Context()
	prefix := benchPrefix("parallel")
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := prefix + strconv.FormatInt(n.Add(1), 10)
		for pb.Next() {
			s, err := l.TryAcquire(ctx, key, benchTTL)
			if err != nil {
				b.Errorf("TryAcquire(%q) = %v; want a lease", key, err)
				return
			}
			if err := s.Release(ctx); err != nil {
				b.Errorf("Lease.Release(%q) = %v; want nil", key, err)
				return
			}
		}
	})
}
