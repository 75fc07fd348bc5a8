package redis_test

import (
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/redis"
)

// countedClient returns a client of addr, with the pool of lock.Open's
// clients (go-redis's default size) and its requests counted.
func countedClient(t *testing.T, addr string) (*goredis.Client, *counter) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true, ReadTimeout: 3 * time.Second})
	t.Cleanup(func() { c.Close() })
	count := &counter{}
	c.AddHook(count)
	return c, count
}

// testLoad runs locktest's load checks on Locks with opts over the server
// at addr (an IP address and port): a burst of 3,000 acquisitions kept
// alive, and 400 waiters for one key, through two Locks of two scopes (the
// server named by IP address and as localhost), neither the holder's.
func testLoad(t *testing.T, addr string, opts *redis.Options) {
	t.Run("Burst", func(t *testing.T) {
		c, count := countedClient(t, addr)
		l := mustNew(t, c, opts)
		defer l.Close()
		// n is under the race detector's goroutine limit; ttl is above
		// the burst's length under -race on a loaded 2-core machine.
		const n, ttl = 3000, 5 * time.Second
		took, extends := locktest.Burst(t, l, n, ttl, count.requests.Load)
		t.Logf("%d concurrent TryAcquire on %d connections: %v; keep-alives: %d requests", n, c.Options().PoolSize, took.Round(time.Millisecond), extends)
		// Each lease extends every ttl/3: 3 or 4 extends each in
		// ttl+1s, in batches, not a request each.
		if extends >= n {
			t.Errorf("keep-alives of %d leases took %d requests; want batches", n, extends)
		}
	})
	t.Run("Crowd", func(t *testing.T) {
		holder := mustNew(t, redisClient(t, addr), opts)
		defer holder.Close()
		var (
			waiters []lock.Lock
			sent    []func() int64
		)
		_, port, _ := net.SplitHostPort(addr)
		for _, host := range []string{"127.0.0.1", "localhost"} { // two scopes, as two processes
			c, count := countedClient(t, net.JoinHostPort(host, port))
			l := mustNew(t, c, opts)
			defer l.Close()
			waiters, sent = append(waiters, l), append(sent, count.requests.Load)
		}
		locktest.Crowd(t, holder, waiters, sent, 400, 3*time.Second)
	})
}

func redisClient(t *testing.T, addr string) *goredis.Client {
	c, _ := countedClient(t, addr)
	return c
}

// TestLoadReal runs the load checks on the server of LOCK_TEST_REDIS_URL.
func TestLoadReal(t *testing.T) {
	testLoad(t, realClient(t).Options().Addr, testOpts)
}

// TestLoadMinReplicas runs them with min_replicas=1 on a primary and its
// replica started for the test: every acquisition and every extend waits
// for the replica.
func TestLoadMinReplicas(t *testing.T) {
	primary, _ := startPair(t)
	testLoad(t, primary.addr(), replicaOpts)
}
