package locktest_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/memory"
)

// A backend's tests run the suite with a Harness whose New returns Lock
// values on one shared store, as separate processes share a server. Here the
// store under test is the memory backend's, on a clock that the suite moves
// instead of sleeping through ttls. In a backend's package, testConformance
// is a test function: func TestConformance(t *testing.T).
func Example() {
	testConformance := func(t *testing.T) {
		var now atomic.Int64 // the store's clock, in Unix nanoseconds: still until moved
		now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		store := memory.NewStore(&memory.Options{
			Now: func() time.Time { return time.Unix(0, now.Load()) },
		})
		locktest.Run(t, locktest.Harness{
			// The suite closes every Lock value it gets.
			New: func(t *testing.T) lock.Lock { return store.Lock() },
			// Without Advance, the suite lets locks expire on real time.
			Advance: func(d time.Duration) { now.Add(int64(d)) },
		})
	}
	_ = testConformance
}

// A backend's benchmark makes a Lock on the store it measures and hands it
// to the shared loop. In a backend's package, benchmarkParallelDistinctKeys
// is a benchmark function: func BenchmarkParallelDistinctKeys(b *testing.B).
func ExampleBenchmarkParallelDistinctKeys() {
	benchmarkParallelDistinctKeys := func(b *testing.B) {
		l := memory.New(nil)
		defer l.Close()
		locktest.BenchmarkParallelDistinctKeys(b, l)
	}
	_ = benchmarkParallelDistinctKeys
}
