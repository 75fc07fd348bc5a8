package benchmarks

import (
	"crypto/rand"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// BenchmarkFloor measures, in the same run as the rows it bounds, the parts
// that no lock built on these stores can skip: what the memory cycle and
// the redis hand-off targets stand on.
func BenchmarkFloor(b *testing.B) {
	b.Run("memory/clock", func(b *testing.B) {
		for b.Loop() {
			sinkTime = time.Now()
		}
	})
	b.Run("memory/token", func(b *testing.B) { // the 128 random bits of a token, no encoding
		var t [16]byte
		for b.Loop() {
			rand.Read(t[:])
		}
	})
	b.Run("memory/alloc", func(b *testing.B) { // one object of a lease's size class
		b.ReportAllocs()
		for b.Loop() {
			sinkLease = new(leaseSized)
		}
	})
	b.Run("memory/store", func(b *testing.B) { // a map under a mutex: insert with an expiry, compare and delete
		var (
			mu    sync.Mutex
			items = map[string]bareItem{}
			key   = "bench:" + rand.Text()
			base  = time.Now()
			clock = func() time.Time { return base.Add(time.Since(base)) } // the memory store's: monotonic only
		)
		for b.Loop() {
			mu.Lock()
			now := clock()
			if it, ok := items[key]; ok && now.Before(it.expires) {
				b.Fatal("held")
			}
			items[key] = bareItem{token: key, expires: now.Add(time.Minute)}
			mu.Unlock()
			mu.Lock()
			now = clock()
			if it, ok := items[key]; !ok || it.token != key || !now.Before(it.expires) {
				b.Fatal("not held")
			}
			delete(items, key)
			mu.Unlock()
		}
	})
	b.Run("redis/ping-after-idle", func(b *testing.B) {
		c := redisClient(b)
		afterIdle(b, func() time.Duration {
			start := time.Now()
			if err := c.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		})
	})
	b.Run("redis/handoff-1-waiter", func(b *testing.B) { redisHandoffFloor(b, redisClient(b), 1) })
	b.Run("redis/handoff-7-waiters", func(b *testing.B) { redisHandoffFloor(b, redisClient(b), 7) })
}

var sinkTime time.Time

// leaseSized has the size class of a lock.Lease (256 bytes, with pointers).
type leaseSized struct {
	p [4]*int
	_ [224]byte
}

var sinkLease *leaseSized

type bareItem struct {
	token   string
	expires time.Time
}

// afterIdle reports the median of f's durations, each after an idle
// millisecond, as the contended hand-off's calls come after the critical
// section.
func afterIdle(b *testing.B, f func() time.Duration) {
	var ds []time.Duration
	for b.Loop() {
		time.Sleep(time.Millisecond)
		ds = append(ds, f())
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds())/1000, "median-µs")
}

// redisHandoffFloor measures the least a hand-off woken by pub/sub can take,
// with one waiter, or as many as BenchmarkHandoff has (7). After an idle
// millisecond the holder sends a script that deletes the key and publishes;
// the waiters, subscribed beforehand, each on a client of its own, send
// SET NX PX when the message arrives. The gap runs from the holder's send
// to the first OK, with no owner check and nothing else in the way.
func redisHandoffFloor(b *testing.B, c *goredis.Client, waiters int) {
	key := "bench:floor:" + rand.Text()
	release := goredis.NewScript(`redis.call("DEL", KEYS[1]) return redis.call("PUBLISH", KEYS[1], "")`)
	if err := release.Load(ctx, c).Err(); err != nil {
		b.Fatal(err)
	}
	var (
		start = make([]chan struct{}, waiters)
		won   = make(chan time.Time, waiters)
		wg    sync.WaitGroup
	)
	for i := range waiters {
		w := redisClient(b)
		sub := w.Subscribe(ctx, key)
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
			b.Fatal(err)
		}
		msgs := sub.Channel()
		start[i] = make(chan struct{})
		wg.Go(func() {
			for range start[i] {
				<-msgs
				ok, err := w.SetNX(ctx, key, "waiter", time.Minute).Result()
				if err != nil {
					b.Error(err)
				}
				if ok {
					won <- time.Now()
				}
			}
		})
	}
	defer wg.Wait()
	defer func() {
		for _, ch := range start {
			close(ch)
		}
	}()
	afterIdle(b, func() time.Duration {
		c.Set(ctx, key, "holder", time.Minute)
		for _, ch := range start {
			ch <- struct{}{}
		}
		time.Sleep(time.Millisecond)
		begin := time.Now()
		if err := release.Run(ctx, c, []string{key}).Err(); err != nil {
			b.Fatal(err)
		}
		return (<-won).Sub(begin)
	})
}
