package lock

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// freeBackend grants every acquire.
type freeBackend struct{}

func (freeBackend) Acquire(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}
func (freeBackend) Release(context.Context, string, string) (bool, error) { return true, nil }
func (freeBackend) Extend(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}
func (freeBackend) Close() error { return nil }

// TestHeldKeysPruned checks that keys acquired by the key-based calls and
// left to expire are pruned, so the map does not grow without bound, while
// live keys are kept.
func TestHeldKeysPruned(t *testing.T) {
	l := New(freeBackend{}, nil).(*locker)
	ctx := context.Background()
	for i := range 1000 {
		if _, err := l.TryAcquireLock(ctx, fmt.Sprint("old", i), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Let them expire, long ago.
	l.mu.Lock()
	for _, le := range l.held {
		le.mu.Lock()
		le.deadline = le.deadline.Add(-time.Hour)
		le.mu.Unlock()
	}
	l.mu.Unlock()
	for i := range 2000 {
		if _, err := l.TryAcquireLock(ctx, fmt.Sprint("new", i), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	if l.nLive != len(l.held) {
		t.Errorf("%d live leases, %d held keys; want the same", l.nLive, len(l.held))
	}
	n, old := len(l.held), 0
	for k := range l.held {
		if k[:3] == "old" {
			old++
		}
	}
	l.mu.Unlock()
	if n != 2000 || old != 0 {
		t.Fatalf("held keys = %d (%d expired an hour ago); want the 2000 live ones only", n, old)
	}
}

// TestRetryIntervalFloor checks that a tiny retry interval cannot make a
// wait spin: pauses are at least a millisecond apart at their cap.
func TestRetryIntervalFloor(t *testing.T) {
	if got := New(freeBackend{}, &Options{RetryInterval: time.Nanosecond}).(*locker).retry; got != time.Millisecond {
		t.Fatalf("retry interval for Options.RetryInterval 1ns = %v; want 1ms", got)
	}
}
