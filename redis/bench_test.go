package redis_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/redis"
)

// benchClient returns a client of the real server of LOCK_TEST_REDIS_URL,
// or of a miniredis when it is not set.
func benchClient(b *testing.B) *goredis.Client {
	b.Helper()
	if os.Getenv("LOCK_TEST_REDIS_URL") != "" {
		return realClient(b)
	}
	_, c := mini(b)
	return c
}

// BenchmarkCycle measures TryAcquire and Release of a lease: SET NX GET and
// the compare-and-delete script, two round trips.
func BenchmarkCycle(b *testing.B) {
	l := mustNew(b, benchClient(b), nil)
	defer l.Close()
	locktest.BenchmarkCycle(b, l)
}

// BenchmarkCycleURL is BenchmarkCycle on a Lock opened by URL, whose
// client lock.Open makes (no retries inside go-redis, 300ms timeouts).
func BenchmarkCycleURL(b *testing.B) {
	raw := os.Getenv("LOCK_TEST_REDIS_URL")
	if raw == "" {
		mr, _ := mini(b)
		raw = "redis://" + mr.Addr()
	}
	l, err := lock.Open(context.Background(), raw)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	locktest.BenchmarkCycle(b, l)
}

// BenchmarkRawSetNXDel is the unsafe baseline of BenchmarkCycle: a plain
// SET NX PX and DEL through the same client, with no owner check.
func BenchmarkRawSetNXDel(b *testing.B) {
	c := benchClient(b)
	ctx := context.Background()
	key := "lock:bench:raw:" + rand.Text()
	token := rand.Text()
	for b.Loop() {
		ok, err := c.SetNX(ctx, key, token, time.Minute).Result()
		if err != nil || !ok {
			b.Fatalf("SetNX = %v, %v", ok, err)
		}
		if err := c.Del(ctx, key).Err(); err != nil {
			b.Fatalf("Del = %v", err)
		}
	}
}

// BenchmarkParallelDistinctKeys measures cycles of goroutines that each
// lock keys of their own, through one Lock value.
func BenchmarkParallelDistinctKeys(b *testing.B) {
	l := mustNew(b, benchClient(b), nil)
	defer l.Close()
	locktest.BenchmarkParallelDistinctKeys(b, l)
}

// BenchmarkWakeLatency measures the time from a release to the moment a
// waiting Acquire on another Lock value returns, reported as wake-ns. The
// retry interval is long: the wait wakes on the release, not on a poll.
func BenchmarkWakeLatency(b *testing.B) {
	c := benchClient(b)
	slow := &redis.Options{}
	slow.RetryInterval = time.Second
	holder, waiter := mustNew(b, c, slow), mustNew(b, c, slow)
	defer holder.Close()
	defer waiter.Close()
	ctx := context.Background()
	key := "bench:wake:" + rand.Text()
	var total time.Duration
	for b.Loop() {
		s, err := holder.TryAcquire(ctx, key, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan time.Time)
		go func() {
			w, err := waiter.Acquire(ctx, key, time.Minute)
			at := time.Now()
			if err != nil {
				b.Error(err)
			} else {
				w.Release(ctx)
			}
			got <- at
		}()
		for { // until the wait has subscribed
			n, err := c.PubSubNumSub(ctx, redis.DefaultPrefix+key).Result()
			if err != nil {
				b.Fatal(err)
			}
			if n[redis.DefaultPrefix+key] > 0 {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		time.Sleep(100 * time.Microsecond) // let the waiter's attempt return
		released := time.Now()
		if err := s.Release(ctx); err != nil {
			b.Fatal(err)
		}
		total += (<-got).Sub(released)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "wake-ns")
}

// BenchmarkCycleReplicas measures TryAcquire and Release on a primary with
// one replica, both started for the benchmark (LOCK_TEST_REDIS_BIN), with
// min_replicas=1 (Replicated: the acquire waits for the replica's
// acknowledgement, in the same round trip) and without (Async), for the
// cost of WAIT.
func BenchmarkCycleReplicas(b *testing.B) {
	primary, _ := startPair(b)
	c := primary.client()
	defer c.Close()
	for _, bc := range []struct {
		name string
		opts *redis.Options
	}{{"Async", nil}, {"Replicated", &redis.Options{MinReplicas: 1}}} {
		b.Run(bc.name, func(b *testing.B) {
			l := mustNew(b, c, bc.opts)
			defer l.Close()
			locktest.BenchmarkCycle(b, l)
		})
	}
}
