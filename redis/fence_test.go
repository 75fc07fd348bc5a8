package redis_test

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/redis"
)

var fencedOpts = &redis.Options{Options: lock.Options{RetryInterval: testRetry}, Fence: true}

func TestConformanceMiniredisFenced(t *testing.T) {
	t.Parallel() // a miniredis of its own; the suite's keep-alive subtests sleep on real time
	mr, c := mini(t)
	locktest.Run(t, locktest.Harness{
		New:           func(t *testing.T) lock.Lock { return mustNew(t, c, fencedOpts) },
		Delete:        deleteWith(c, redis.DefaultPrefix),
		Advance:       mr.FastForward,
		Granularity:   granularity,
		RetryInterval: testRetry,
	})
}

func TestConformanceRealFenced(t *testing.T) {
	c := realClient(t)
	h := realHarness(func(t *testing.T) lock.Lock { return mustNew(t, c, fencedOpts) })
	h.Delete = deleteWith(c, redis.DefaultPrefix)
	locktest.Run(t, h)
}

// fence acquires key on l and returns the lease's fencing token.
func fence(t *testing.T, l lock.Lock, key string) uint64 {
	t.Helper()
	s, err := l.TryAcquire(ctxT(t), key, testRetry*100)
	if err != nil {
		t.Fatalf("TryAcquire(%q) = %v", key, err)
	}
	f, ok := s.Fence()
	if !ok {
		t.Fatalf("Fence() = %d, false; want a fencing token with Options.Fence", f)
	}
	if err := s.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFenceSurvivesDataLoss checks that fencing tokens keep increasing when
// the store loses its data (a flush, as a restart without persistence or a
// failover to a replica that missed the last writes does), and that they
// are handed out without a second round trip.
func TestFenceSurvivesDataLoss(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) {
		mr, c := mini(t)
		testFenceDataLoss(t, c, mr.FlushAll)
	})
	t.Run("real", func(t *testing.T) {
		c := realClient(t)
		o := *c.Options()
		o.DB = 9 // a database of its own, so the flush touches no other test
		c9 := goredis.NewClient(&o)
		t.Cleanup(func() { c9.Close() })
		testFenceDataLoss(t, c9, func() {
			if err := c9.FlushDB(ctxT(t)).Err(); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func testFenceDataLoss(t *testing.T, c goredis.UniversalClient, lose func()) {
	l := mustNew(t, c, fencedOpts)
	defer l.Close()
	last := uint64(0)
	for i := range 5 {
		f := fence(t, l, "fenced")
		if f <= last {
			t.Fatalf("fencing token %d after %d = %d; want it greater", i, last, f)
		}
		last = f
		if i%2 == 1 {
			lose()
		}
	}
	// Back-to-back acquisitions of one key increase too.
	for range 50 {
		f := fence(t, l, "fast")
		if f <= last {
			t.Fatalf("fencing token %d after %d; want it greater", f, last)
		}
		last = f
	}
}

// TestFenceURL checks that fence=true in a URL gives fencing tokens.
func TestFenceURL(t *testing.T) {
	mr, _ := mini(t)
	l, err := lock.Open(ctxT(t), "redis://"+mr.Addr()+"?fence=true")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if f := fence(t, l, "url"); f == 0 {
		t.Fatalf("fencing token %d; want one", f)
	}
}
