package redis_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/redis"
)

// replicaOpts asks for one replica's acknowledgement within 2s: a margin
// for a loaded machine (under -race, with every package's tests at once, a
// replica can take more than 100ms to acknowledge), where the tests expect
// every write acknowledged.
var replicaOpts = &redis.Options{Options: lock.Options{RetryInterval: testRetry}, MinReplicas: 1, ReplicaTimeout: 2 * time.Second}

// refusedOpts asks for it within 50ms, for the tests where no replica
// answers and each write waits the whole timeout.
var refusedOpts = &redis.Options{Options: lock.Options{RetryInterval: testRetry}, MinReplicas: 1, ReplicaTimeout: 50 * time.Millisecond}

// TestMinReplicasRefused: on a server whose WAIT counts no replica
// (miniredis has none), every acquisition lands and is refused: the
// acquire fails with ErrNotReplicated, which matches ErrUnavailable, and
// the key is free again, for every kind of attempt.
func TestMinReplicasRefused(t *testing.T) {
	t.Parallel()
	mr, c := mini(t)
	fenced := *refusedOpts
	fenced.Fence = true
	for _, opts := range []*redis.Options{refusedOpts, &fenced} {
		l := mustNew(t, c, opts)
		defer l.Close()
		ctx := t.Context()
		_, err := l.TryAcquire(ctx, "k", time.Minute)
		if !errors.Is(err, redis.ErrNotReplicated) || !errors.Is(err, lock.ErrUnavailable) || !strings.Contains(err.Error(), "0 of 1 within 50ms; released") {
			t.Fatalf("fence %v: TryAcquire with no replica = %v; want ErrNotReplicated, ErrUnavailable, 0 of 1, released", opts.Fence, err)
		}
		if mr.Exists(redis.DefaultPrefix + "k") {
			t.Fatalf("fence %v: the key is held after an acquisition no replica acknowledged; want it released", opts.Fence)
		}
		// A wait retries, and its subscription makes its attempts
		// wait.lua: each refused, none left behind. (On a loaded machine
		// the wait's deadline can fall during an attempt: its error is
		// then the deadline's, and the Lock releases what that attempt
		// may have stored in the background.)
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err = l.Acquire(wctx, "k", time.Minute)
		cancel()
		if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, redis.ErrNotReplicated) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("fence %v: Acquire with no replica = %v; want ErrNotAcquired after ErrNotReplicated", opts.Fence, err)
		}
		for deadline := time.Now().Add(5 * time.Second); mr.Exists(redis.DefaultPrefix + "k"); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("fence %v: the key is held 5s after a wait that no replica acknowledged", opts.Fence)
			}
		}
	}
}

// TestMinReplicasOptions: a replica timeout the client's read timeout
// would cut is refused, as are negative settings.
func TestMinReplicasOptions(t *testing.T) {
	t.Parallel()
	_, c := mini(t) // read timeout 5s, go-redis's default
	for _, tc := range []struct {
		opts redis.Options
		want string
	}{
		{redis.Options{MinReplicas: 1, ReplicaTimeout: 5 * time.Second}, "a replica timeout of 5s needs a longer read timeout; the client's is 5s"},
		{redis.Options{MinReplicas: -1}, "may not be negative"},
		{redis.Options{MinReplicas: 1, ReplicaTimeout: -time.Second}, "may not be negative"},
	} {
		if _, err := redis.New(c, &tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v; want an error with %q", tc.opts, err, tc.want)
		}
	}
	if l, err := redis.New(c, &redis.Options{MinReplicas: 2, ReplicaTimeout: time.Second}); err != nil {
		t.Errorf("New with a replica timeout under the read timeout: %v", err)
	} else {
		l.Close()
	}
}

// TestConformanceMinReplicas runs the suite with min_replicas=1 on a
// primary and its replica, started for the test.
func TestConformanceMinReplicas(t *testing.T) {
	primary, _ := startPair(t)
	c := primary.client()
	t.Cleanup(func() { c.Close() })
	h := realHarness(func(t *testing.T) lock.Lock { return mustNew(t, c, replicaOpts) })
	h.Delete = deleteWith(c, redis.DefaultPrefix)
	locktest.Run(t, h)
}

// TestMinReplicasReplicaStalled: while the only replica is stalled, an
// acquisition is refused and leaves the key free, an extend fails in
// transit and the lease keeps its lock, and a kept-alive lease rides the
// stall out; once the replica is back, all works again.
func TestMinReplicasReplicaStalled(t *testing.T) {
	primary, replica := startPair(t)
	c := primary.client()
	t.Cleanup(func() { c.Close() })
	opts := *replicaOpts
	opts.ReplicaTimeout = 300 * time.Millisecond // each write while the replica is stalled waits it out
	l := mustNew(t, c, &opts)
	defer l.Close()
	ctx := t.Context()
	kept, err := l.TryAcquire(ctx, "kept", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := kept.KeepAlive(ctx, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	held, err := l.TryAcquire(ctx, "held", time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	replica.signal(syscall.SIGSTOP)
	_, err = l.TryAcquire(ctx, "new", time.Minute)
	if !errors.Is(err, redis.ErrNotReplicated) {
		t.Fatalf("TryAcquire with the replica stalled = %v; want ErrNotReplicated", err)
	}
	if n, _ := c.Exists(ctx, redis.DefaultPrefix+"new").Result(); n != 0 {
		t.Fatal("an acquisition the replica did not acknowledge is left on the primary; want it released")
	}
	err = held.Extend(ctx, time.Minute)
	if !errors.Is(err, lock.ErrUnavailable) || !errors.Is(err, redis.ErrNotReplicated) {
		t.Fatalf("Extend with the replica stalled = %v; want ErrUnavailable and ErrNotReplicated", err)
	}
	if held.Err() != nil {
		t.Fatalf("a lease whose extend the replica did not acknowledge ended: %v; want it held", held.Err())
	}
	time.Sleep(time.Second) // the stall: five keep-alive extends fail meanwhile
	replica.signal(syscall.SIGCONT)

	if _, err := l.Acquire(ctx, "new", time.Minute); err != nil {
		t.Fatalf("Acquire once the replica is back: %v", err)
	}
	if err := held.Extend(ctx, time.Minute); err != nil {
		t.Fatalf("Extend once the replica is back: %v", err)
	}
	if err := kept.Err(); err != nil {
		t.Fatalf("kept-alive lease after a 1s replica stall: %v; want it held (ttl 3s)", err)
	}
	if v, _ := c.Get(ctx, redis.DefaultPrefix+"kept").Result(); v == "" {
		t.Fatal("the kept-alive lock is gone from the store")
	}
	if err := kept.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
