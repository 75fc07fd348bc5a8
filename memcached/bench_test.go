package memcached_test

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/memcached"
)

// The benchmarks run against LOCK_TEST_MEMCACHED_URL. Each one compares,
// in one run, a Lock of each protocol with gomemcache's raw, unsafe
// commands:
//
//	go test -run '^$' -bench . -count 5 ./memcached/ | benchstat -col /impl -
//
// Cycle is TryAcquire and Release (meta: 2 round trips; classic: 3) against
// add and delete (2); Extend is one extend (meta: 1; classic: 2) against
// one touch (1); Parallel runs cycles on distinct keys from GOMAXPROCS
// goroutines and reports the connections the servers accepted meanwhile
// (new-conns), which a pool that churns would make about one per cycle.

var benchRun = strconv.FormatInt(time.Now().UnixNano(), 36)

// benchLocks returns a Lock of each protocol on the real servers, named by
// their sub-benchmark.
func benchLocks(b *testing.B) []struct {
	impl string
	l    lock.Lock
} {
	addrs := realServers(b)
	c := realClient(b)
	c.MaxIdleConns = memcached.DefaultPoolSize
	return []struct {
		impl string
		l    lock.Lock
	}{
		{"meta", dialLock(b, addrs, nil)},
		{"classic", newLock(b, c)},
	}
}

// rawClient returns a gomemcache client of the real servers, with as many
// idle connections as the Locks keep.
func rawClient(b *testing.B) *memcache.Client {
	c := realClient(b)
	c.MaxIdleConns = memcached.DefaultPoolSize
	return c
}

// token is a value as long as a lock's token.
const token = "01234567890123456789012345"

func BenchmarkCycle(b *testing.B) {
	for _, bl := range benchLocks(b) {
		b.Run("impl="+bl.impl, func(b *testing.B) { locktest.BenchmarkCycle(b, bl.l) })
	}
	// The original's unsafe cycle: the floor the lock is measured against.
	b.Run("impl=raw", func(b *testing.B) {
		c := rawClient(b)
		item := &memcache.Item{Key: "lock:bench-raw-" + benchRun, Value: []byte(token), Expiration: 61}
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Add(item); err != nil {
				b.Fatal(err)
			}
			if err := c.Delete(item.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFencedCycle compares, in one run, the uncontended cycle
// (TryAcquire and Release) of a Lock made by Dial with Options.Fence, whose
// acquire sends the increment of the key's fence counter in the round trip
// of its add, with the same cycle of one without.
func BenchmarkFencedCycle(b *testing.B) {
	addrs := realServers(b)
	for _, tc := range []struct {
		impl  string
		fence bool
	}{{"meta", false}, {"meta-fenced", true}} {
		l := dialLock(b, addrs, &memcached.Options{Options: lock.Options{RetryInterval: testRetry}, Fence: tc.fence})
		b.Run("impl="+tc.impl, func(b *testing.B) { locktest.BenchmarkCycle(b, l) })
	}
}

func BenchmarkExtend(b *testing.B) {
	for _, bl := range benchLocks(b) {
		b.Run("impl="+bl.impl, func(b *testing.B) {
			ctx := b.Context()
			s, err := bl.l.TryAcquire(ctx, "bench-extend-"+bl.impl+"-"+benchRun, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Extend(ctx, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			s.Release(ctx)
		})
	}
	// An unchecked touch: what an extend costs without an owner check.
	b.Run("impl=raw", func(b *testing.B) {
		c := rawClient(b)
		item := &memcache.Item{Key: "lock:bench-touch-" + benchRun, Value: []byte(token), Expiration: 61}
		if err := c.Set(item); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Touch(item.Key, 61); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParallel(b *testing.B) {
	addrs := realServers(b)
	for _, bl := range benchLocks(b) {
		b.Run("impl="+bl.impl, func(b *testing.B) {
			before := totalConnections(b, addrs)
			locktest.BenchmarkParallelDistinctKeys(b, bl.l)
			b.ReportMetric(float64(totalConnections(b, addrs)-before), "new-conns")
		})
	}
	b.Run("impl=raw", func(b *testing.B) {
		c := rawClient(b)
		var n atomic.Int64
		before := totalConnections(b, addrs)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			item := &memcache.Item{Key: fmt.Sprintf("lock:bench-rawpar-%s-%d", benchRun, n.Add(1)), Value: []byte(token), Expiration: 61}
			for pb.Next() {
				if err := c.Add(item); err != nil {
					b.Error(err)
					return
				}
				if err := c.Delete(item.Key); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(totalConnections(b, addrs)-before), "new-conns")
	})
}

// totalConnections sums the total_connections statistic of the servers.
func totalConnections(tb testing.TB, addrs []string) int {
	tb.Helper()
	total := 0
	for _, addr := range addrs {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			tb.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprint(conn, "stats\r\n")
		sc := bufio.NewScanner(conn)
		for sc.Scan() && sc.Text() != "END" {
			if v, ok := strings.CutPrefix(sc.Text(), "STAT total_connections "); ok {
				n, _ := strconv.Atoi(v)
				total += n - 1 // not counting this connection
			}
		}
		conn.Close()
	}
	return total
}

// BenchmarkRawAddGetsCAS is the classic Lock's own three commands, sent
// directly through gomemcache: what its cycle costs in protocol alone.
func BenchmarkRawAddGetsCAS(b *testing.B) {
	c := rawClient(b)
	item := &memcache.Item{Key: "lock:bench-rawcas-" + benchRun, Value: []byte(token), Expiration: 61}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Add(item); err != nil {
			b.Fatal(err)
		}
		got, err := c.Get(item.Key)
		if err != nil {
			b.Fatal(err)
		}
		got.Expiration = -1
		if err := c.CompareAndSwap(got); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVersusRaw alternates, in one loop, an operation of a Lock made
// by Dial and its raw gomemcache counterpart, and reports the ratio of
// their total times (x-raw): the machine's drift, which moves separate
// benchmarks by more than the difference measured, falls on both alike.
//
//   - cycle: TryAcquire and Release against add and delete;
//   - extend: Extend against touch;
//   - parallel: cycles on distinct keys from GOMAXPROCS goroutines; a ratio
//     under 1 means more cycles per second than raw add and delete.
func BenchmarkVersusRaw(b *testing.B) {
	addrs := realServers(b)
	l := dialLock(b, addrs, nil)
	c := rawClient(b)
	ctx := b.Context()
	var n atomic.Int64
	// versus runs lockOp and rawOp alternately and reports the ratio.
	versus := func(b *testing.B, parallel bool, setup func(id int64) (lockOp, rawOp func() error)) {
		var lockTime, rawTime atomic.Int64
		body := func(next func() bool) {
			lockOp, rawOp := setup(n.Add(1))
			for next() {
				t0 := time.Now()
				if err := lockOp(); err != nil {
					b.Error(err)
					return
				}
				t1 := time.Now()
				if err := rawOp(); err != nil {
					b.Error(err)
					return
				}
				lockTime.Add(int64(t1.Sub(t0)))
				rawTime.Add(int64(time.Since(t1)))
			}
		}
		b.ReportAllocs()
		if parallel {
			b.RunParallel(func(pb *testing.PB) { body(pb.Next) })
		} else {
			body(b.Loop)
		}
		b.ReportMetric(float64(lockTime.Load())/float64(rawTime.Load()), "x-raw")
	}
	cycle := func(id int64) (func() error, func() error) {
		key := fmt.Sprintf("bench-vs-%s-%d", benchRun, id)
		item := &memcache.Item{Key: "lock:bench-vsraw-" + benchRun + strconv.FormatInt(id, 10), Value: []byte(token), Expiration: 61}
		return func() error {
				s, err := l.TryAcquire(ctx, key, time.Minute)
				if err != nil {
					return err
				}
				return s.Release(ctx)
			}, func() error {
				if err := c.Add(item); err != nil {
					return err
				}
				return c.Delete(item.Key)
			}
	}
	b.Run("op=cycle", func(b *testing.B) { versus(b, false, cycle) })
	b.Run("op=extend", func(b *testing.B) {
		versus(b, false, func(id int64) (func() error, func() error) {
			s, err := l.TryAcquire(ctx, fmt.Sprintf("bench-vsext-%s-%d", benchRun, id), time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Release(ctx) })
			item := &memcache.Item{Key: "lock:bench-vstouch-" + benchRun, Value: []byte(token), Expiration: 61}
			if err := c.Set(item); err != nil {
				b.Fatal(err)
			}
			return func() error { return s.Extend(ctx, time.Minute) },
				func() error { return c.Touch(item.Key, 61) }
		})
	})
	b.Run("op=parallel", func(b *testing.B) { versus(b, true, cycle) })
}
