package lock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distlock/lock"
)

// heldBackend is a store where every key is held by someone else; its
// Acquire blocks until ctx is done when block is set, as a network call
// cut short by its context does.
type heldBackend struct{ block bool }

func (b heldBackend) Acquire(ctx context.Context, _, _ string, _ time.Duration) (bool, error) {
	if b.block {
		<-ctx.Done()
		return false, errors.New("store: " + ctx.Err().Error()) // not wrapping ctx.Err, as some clients do
	}
	return false, nil
}
func (heldBackend) Release(context.Context, string, string) (bool, error) { return false, nil }
func (heldBackend) Extend(context.Context, string, string, time.Duration) (bool, error) {
	return false, nil
}
func (heldBackend) Close() error { return nil }

// TestWaitCutShortInCall checks that a wait whose ctx ends during a
// backend call still reports ErrNotAcquired and the ctx error.
func TestWaitCutShortInCall(t *testing.T) {
	l := lock.New(heldBackend{block: true}, nil)
	defer l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := l.Acquire(ctx, "k", time.Second)
	if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire cut short inside a backend call = %v; want ErrNotAcquired and context.DeadlineExceeded", err)
	}
}

// TestAcquireLockHugeTimeout checks that a timeout too large to add to the
// clock is a long wait, not an overflow into the past.
func TestAcquireLockHugeTimeout(t *testing.T) {
	l := lock.New(heldBackend{}, &lock.Options{RetryInterval: time.Millisecond})
	defer l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := l.AcquireLock(ctx, "k", time.Second, 1<<63-1)
	if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AcquireLock(timeout max) = %v; want it to wait until ctx's deadline", err)
	}
}
