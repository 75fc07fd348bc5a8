package etcd_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/distlock/lock"
	"github.com/distlock/lock/etcd"
	"github.com/distlock/lock/locktest"
)

// The benchmarks run on the cluster of LOCK_TEST_ETCD_URL, or on the
// in-process etcd.

// BenchmarkCycle measures TryAcquire and Release of a lease: a transaction
// (with a spare lease renewed alongside), then a transaction that deletes
// the key if it stores the token.
func BenchmarkCycle(b *testing.B) {
	l := mustNew(b, testClient(b), nil)
	defer l.Close()
	locktest.BenchmarkCycle(b, l)
}

// BenchmarkMutexCycle is the baseline of BenchmarkCycle: etcd's own
// concurrency.Mutex, TryLock and Unlock, on a session made once.
func BenchmarkMutexCycle(b *testing.B) {
	c := testClient(b)
	s, err := concurrency.NewSession(c, concurrency.WithTTL(60))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m := concurrency.NewMutex(s, "bench/mutex/"+rand.Text())
	ctx := context.Background()
	for b.Loop() {
		if err := m.TryLock(ctx); err != nil {
			b.Fatal(err)
		}
		if err := m.Unlock(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandOff measures the time from a release to the moment a
// waiting Acquire on another Lock value returns (locktest.BenchmarkHandOff).
// The retry interval is a second: the wait wakes on the watch's delete
// event, not on a poll.
func BenchmarkHandOff(b *testing.B) {
	slow := &etcd.Options{Options: lock.Options{RetryInterval: time.Second}}
	holder, waiter := mustNew(b, testClient(b), slow), mustNew(b, testClient(b), slow)
	defer holder.Close()
	defer waiter.Close()
	// The wait's first attempt, refused, takes a few milliseconds.
	locktest.BenchmarkHandOff(b, holder, waiter, 50*time.Millisecond)
}
