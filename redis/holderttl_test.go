package redis_test

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/leasecheck"
	"github.com/distlock/lock/redis"
)

// counter is a go-redis hook that counts what a client sends: requests
// (a command, or a pipeline, is one) and commands (pipelined ones each).
type counter struct{ requests, commands atomic.Int64 }

func (h *counter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *counter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.requests.Add(1)
		h.commands.Add(1)
		return next(ctx, cmd)
	}
}

func (h *counter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.requests.Add(1)
		h.commands.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// holderTTLClient returns a client of the real server, or of a miniredis,
// and whether it is real: a miniredis's keys expire only when a test moves
// its clock.
func holderTTLClient(t *testing.T) (*goredis.Client, bool) {
	if os.Getenv("LOCK_TEST_REDIS_URL") != "" {
		return realClient(t), true
	}
	_, c := mini(t)
	return c, false
}

// TestWaitSleepsOnHolderTTL: a wait for a key that a live holder keeps
// learns, from each refused attempt, when the holder's lock expires, and
// sends nothing until then (looking again once a second, in case a release
// went unheard); a release wakes it at once, and an expiry finds it within
// milliseconds.
func TestWaitSleepsOnHolderTTL(t *testing.T) {
	t.Parallel() // real time
	ctx := t.Context()
	c, real := holderTTLClient(t)
	var sent counter
	wc := goredis.NewClient(c.Options())
	wc.AddHook(&sent)
	t.Cleanup(func() { wc.Close() })
	holder := mustNew(t, c, &redis.Options{Prefix: "holderttl:"})
	defer holder.Close()
	waiter := mustNew(t, wc, &redis.Options{Prefix: "holderttl:"})
	defer waiter.Close()

	// A release wakes the wait at once.
	key := "released:" + time.Now().Format("150405.000000")
	s, err := holder.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *lock.Lease, 1)
	go func() {
		w, err := waiter.Acquire(ctx, key, time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- w
	}()
	// Real time: what the wait sends meanwhile is the subject. Once it
	// has learned the holder's ttl (its first attempts, made before its
	// subscription, poll), it sends one attempt a second; polling at the
	// retry interval sends 20 or more.
	time.Sleep(1200 * time.Millisecond)
	n := sent.commands.Load()
	time.Sleep(2 * time.Second)
	if n = sent.commands.Load() - n; n > 3 {
		t.Errorf("a wait sent %d commands in 2s while a live holder held the key; want at most 3", n)
	}
	released := time.Now()
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	w := <-got
	if took := time.Since(released); took > 200*time.Millisecond {
		t.Errorf("the wait took the key %v after its release; want a wake-up at once", took)
	}
	if w != nil {
		w.Release(ctx)
	}

	if !real {
		return
	}
	// An expiry: the wait wakes when the holder's ttl ends.
	key = "expired:" + time.Now().Format("150405.000000")
	if _, err := holder.TryAcquire(ctx, key, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w, err = waiter.Acquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond+300*time.Millisecond {
		t.Errorf("the wait took the key %v after a holder of 1.5s began; want it soon after the expiry", took)
	}
	w.Release(ctx)
}

// TestKeepAliveBatch: leases of one Lock kept alive together are extended
// in one pipeline; after SCRIPT FLUSH (the server forgot extend.lua) they
// are extended one by one, and kept; one whose key was deleted behind its
// back ends.
func TestKeepAliveBatch(t *testing.T) {
	t.Parallel() // real time
	ctx := t.Context()
	c, _ := holderTTLClient(t)
	prefix := "batch:" + time.Now().Format("150405.000000") + ":"
	l := mustNew(t, c, &redis.Options{Prefix: prefix})
	defer l.Close()
	const n, ttl = 50, 1500 * time.Millisecond
	leases := make([]*lock.Lease, n)
	for i := range leases {
		s, err := l.TryAcquire(ctx, strconv.Itoa(i), ttl)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.KeepAlive(ctx, 0); err != nil {
			t.Fatal(err)
		}
		leases[i] = s
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Del(ctx, prefix+"7").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * ttl) // real time: the leases must outlive their ttl
	leasecheck.OneLost(t, leases, 7, "past its ttl after SCRIPT FLUSH")
}
