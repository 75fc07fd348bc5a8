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
)

// The benchmarks run against LOCK_TEST_MEMCACHED_URL. Compare BenchmarkCycle
// with BenchmarkRawAddDelete from the same run: the lock's three round trips
// (add; gets and cas) against the unsafe two (add; delete).

var benchRun = strconv.FormatInt(time.Now().UnixNano(), 36)

// BenchmarkCycle is one TryAcquire and Release of a lease.
func BenchmarkCycle(b *testing.B) {
	c := realClient(b)
	l := newLock(b, c)
	defer l.Close()
	ctx := b.Context()
	key := "bench-cycle-" + benchRun
	b.ReportAllocs()
	for b.Loop() {
		s, err := l.TryAcquire(ctx, key, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawAddDelete is the original's unsafe cycle, a plain add and
// delete, through the same client: the floor the lock is measured against.
func BenchmarkRawAddDelete(b *testing.B) {
	c := realClient(b)
	item := &memcache.Item{Key: "lock:bench-raw-" + benchRun, Value: []byte("01234567890123456789012345"), Expiration: 61}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Add(item); err != nil {
			b.Fatal(err)
		}
		if err := c.Delete(item.Key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParallelDistinctKeys runs cycles on distinct keys from
// GOMAXPROCS goroutines, through one Lock made by Dial with the default pool,
// and reports the connections the server accepted meanwhile: a pool that
// churns opens about one per cycle.
func BenchmarkParallelDistinctKeys(b *testing.B) {
	addrs := realServers(b)
	l, err := memcachedDial(b, addrs)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := b.Context()
	var n atomic.Int64
	before := totalConnections(b, addrs)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Sprintf("bench-par-%s-%d", benchRun, n.Add(1))
		for pb.Next() {
			s, err := l.TryAcquire(ctx, key, time.Minute)
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
	b.ReportMetric(float64(totalConnections(b, addrs)-before), "new-conns")
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

// BenchmarkRawAddGetsCAS is the lock's own three commands, sent directly
// through the same client: what the cycle costs in protocol alone.
func BenchmarkRawAddGetsCAS(b *testing.B) {
	c := realClient(b)
	item := &memcache.Item{Key: "lock:bench-rawcas-" + benchRun, Value: []byte("01234567890123456789012345"), Expiration: 61}
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
