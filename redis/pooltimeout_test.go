package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
)

// TestPoolTimeoutInTransit: with every connection of go-redis's pool busy
// (as behind a stalled primary), a call fails on the pool's timeout; that
// failure is in transit, not an answer: Extend says ErrUnavailable and the
// lease keeps its lock, and a keep-alive rides it out instead of giving
// the lease up while the store still holds the lock.
func TestPoolTimeoutInTransit(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	c := goredis.NewClient(&goredis.Options{Addr: mr.Addr(), PoolSize: 1, PoolTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	l := mustNew(t, c, nil)
	defer l.Close()
	ctx := t.Context()
	s, err := l.TryAcquire(ctx, "k", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The pool's one connection waits in BLPOP until the list gets a value.
	busy := make(chan error, 1)
	go func() { busy <- c.BLPop(context.Background(), 0, "stall").Err() }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if mr.CommandCount() > 0 && c.PoolStats().IdleConns == 0 && c.PoolStats().TotalConns == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pool's connection never became busy")
		}
	}
	if err := s.Extend(ctx, 3*time.Second); !errors.Is(err, lock.ErrUnavailable) || !errors.Is(err, goredis.ErrPoolTimeout) {
		t.Fatalf("Extend with the pool exhausted = %v; want ErrUnavailable and the pool timeout", err)
	}
	if err := s.KeepAlive(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Several keep-alive extends fail on the pool's timeout meanwhile.
	for before, deadline := c.PoolStats().Timeouts, time.Now().Add(2*time.Second); c.PoolStats().Timeouts < before+4; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d pool timeouts in 2s of keep-alive; want 4 or more", c.PoolStats().Timeouts-before)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("kept-alive lease after 4 extends failed on the pool's timeout: Err() = %v; want nil (retried until its deadline)", err)
	}
	mr.Lpush("stall", "go")
	if err := <-busy; err != nil {
		t.Fatalf("BLPOP: %v", err)
	}
	if err := s.Extend(ctx, 3*time.Second); err != nil {
		t.Fatalf("Extend once the pool is free = %v; want nil", err)
	}
	if err := s.Release(ctx); err != nil {
		t.Fatalf("Release = %v", err)
	}
}
