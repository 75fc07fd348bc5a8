package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/distlock/lock"
)

// TestWaitRidesOutRestart checks that a wait rides out a server that goes
// away and comes back (the restart loses the data, so the wait then
// acquires), instead of ending at the first failure.
func TestWaitRidesOutRestart(t *testing.T) {
	t.Parallel() // real time: a 1s outage
	mr, c := mini(t)
	holder, waiter := mustNew(t, c, testOpts), mustNew(t, c, testOpts)
	defer holder.Close()
	defer waiter.Close()
	ctx := ctxT(t)
	if ok, err := holder.TryAcquireLock(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("TryAcquireLock = %v, %v", ok, err)
	}
	done := make(chan error, 1)
	go func() { done <- waiter.AcquireLock(ctx, "k", time.Minute, 10*time.Second) }()
	time.Sleep(3 * testRetry) // the wait is polling
	mr.Close()
	time.Sleep(time.Second)
	mr.FlushAll() // a restart without persistence
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("AcquireLock across a 1s outage = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AcquireLock still waiting 10s after the server came back")
	}
	if err := holder.ReleaseLock(ctx, "k"); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("ReleaseLock of the lock lost in the restart = %v; want ErrNotHeld", err)
	}
}
