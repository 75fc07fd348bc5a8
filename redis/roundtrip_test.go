package redis_test

import (
	"context"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/countconn"
	"github.com/distlock/lock/redis"
)

// countWrites is a go-redis hook that counts the writes on the connections
// the client dials.
type countWrites struct{ countconn.Counter }

func (h *countWrites) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return h.Wrap(conn), nil
	}
}

func (h *countWrites) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }

func (h *countWrites) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func TestRoundTripsMiniredis(t *testing.T) {
	mr, _ := mini(t)
	testRoundTrips(t, &goredis.Options{Addr: mr.Addr()}, roundTripCases)
}

// TestRoundTripsMinReplicas: with min_replicas, the write and its WAIT go
// out together, one round trip, on a primary and its replica started for
// the test.
func TestRoundTripsMinReplicas(t *testing.T) {
	primary, _ := startPair(t)
	fenced := *replicaOpts
	fenced.Fence = true
	testRoundTrips(t, &goredis.Options{Addr: primary.addr()}, []roundTripCase{
		{name: "MinReplicas", opts: replicaOpts},
		{name: "MinReplicasOldServer", old: true, opts: replicaOpts},
		{name: "MinReplicasFenced", opts: &fenced},
	})
}

// roundTripCase is a kind of Lock whose round trips testRoundTrips counts:
// with opts, on a server that refuses SET NX GET when old.
type roundTripCase struct {
	name string
	old  bool
	opts *redis.Options
}

var roundTripCases = []roundTripCase{{name: "Current", opts: testOpts}, {name: "OldServer", old: true, opts: testOpts}, {name: "Fenced", opts: fencedOpts}}

func TestRoundTripsReal(t *testing.T) {
	o, err := goredis.ParseURL(realURL(t))
	if err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL: %v", err)
	}
	testRoundTrips(t, o, roundTripCases)
}

// testRoundTrips checks the promise of the package doc: acquire, extend and
// release are each one round trip on their normal path, once the
// connection is up and the server knows the scripts; on a server that
// refuses SET NX GET too, and with fencing tokens.
func testRoundTrips(t *testing.T, o *goredis.Options, cases []roundTripCase) {
	for _, tc := range cases {
		old := tc.old
		t.Run(tc.name, func(t *testing.T) {
			o := *o
			o.PoolSize = 1 // one connection: no dial in the counts
			c := goredis.NewClient(&o)
			defer c.Close()
			writes := &countWrites{}
			c.AddHook(writes)
			if old {
				c.AddHook(&refuseNXGet{})
			}
			l := mustNew(t, c, tc.opts)
			defer l.Close()
			ctx := ctxT(t)
			key := "roundtrips:" + t.Name()
			count := func(what string, call func() error) {
				t.Helper()
				writes.Swap(0)
				if err := call(); err != nil {
					t.Fatalf("%s = %v", what, err)
				}
				if got := writes.Swap(0); got != 1 {
					t.Errorf("%s took %d round trips; want 1", what, got)
				}
			}
			// Warm up: dial, and let the server meet every script.
			for range 2 {
				s, err := l.TryAcquire(ctx, key, time.Minute)
				if err != nil {
					t.Fatalf("TryAcquire = %v", err)
				}
				if err := s.Extend(ctx, time.Minute); err != nil {
					t.Fatalf("Extend = %v", err)
				}
				if err := s.Release(ctx); err != nil {
					t.Fatalf("Release = %v", err)
				}
			}
			if writes.Swap(0) == 0 {
				t.Fatal("no writes counted: the hook does not see the connection")
			}
			var s *lock.Lease
			count("TryAcquire of a free key", func() (err error) {
				s, err = l.TryAcquire(ctx, key, time.Minute)
				return err
			})
			count("TryAcquireLock of a held key", func() error {
				if ok, err := l.TryAcquireLock(ctx, key, time.Minute); ok || err != nil {
					t.Errorf("TryAcquireLock of a held key = %v, %v; want false, nil", ok, err)
				}
				return nil
			})
			count("Extend", func() error { return s.Extend(ctx, time.Minute) })
			count("Release", func() error { return s.Release(ctx) })
		})
	}
}
