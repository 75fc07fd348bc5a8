package lock_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distlock/lock"
)

// holdBackend is a mapBackend that is a driver.HoldWatcher: a test tells
// the watched leases of a key that it is gone, as a backend's watch would.
type holdBackend struct {
	*mapBackend
	hmu   sync.Mutex
	holds map[string][]func()
}

func (b *holdBackend) WatchHold(key, _ string, lost func()) (stop func()) {
	b.hmu.Lock()
	defer b.hmu.Unlock()
	b.holds[key] = append(b.holds[key], lost)
	return func() {}
}

// gone calls the lost funcs of key, as a backend's goroutine would.
func (b *holdBackend) gone(key string) {
	b.hmu.Lock()
	fs := b.holds[key]
	delete(b.holds, key)
	b.hmu.Unlock()
	for _, f := range fs {
		f()
	}
}

// TestHoldWatch: a lease told by its backend that its lock is gone ends
// at once, as taken; one whose Release is in flight, or failed but may
// have landed, ignores the report: it is that release's own delete, and
// the Release, tried again, succeeds.
func TestHoldWatch(t *testing.T) {
	b := &holdBackend{mapBackend: newMap(), holds: map[string][]func(){}}
	l := lock.New(b, nil)
	defer l.Close()
	ctx := context.Background()

	s, err := l.TryAcquire(ctx, "taken", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	done := s.Done()
	b.drop("taken")
	b.gone("taken")
	select {
	case <-done:
	default:
		t.Fatal("a lease told its lock is gone is not Done")
	}
	if err := s.Err(); !errors.Is(err, lock.ErrNotHeld) || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("Err() = %v; want ErrNotHeld, taken", err)
	}

	s, err = l.TryAcquire(ctx, "released", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s.Done()
	// The first release lands, and its reply is lost to a timeout; the
	// backend then reports the delete.
	b.setFail(func(op string) error {
		if op != "release" {
			return nil
		}
		b.setFail(nil)
		b.drop("released")
		return fmt.Errorf("store: %w: %w", lock.ErrUnavailable, context.DeadlineExceeded)
	})
	if err := s.Release(ctx); !errors.Is(err, lock.ErrUnavailable) {
		t.Fatalf("Release() whose reply was lost = %v; want ErrUnavailable", err)
	}
	b.gone("released")
	if err := s.Err(); err != nil {
		t.Fatalf("Err() after the report of a release that may have landed = %v; want nil (it is that release's)", err)
	}
	if err := s.Release(ctx); err != nil {
		t.Fatalf("Release() again = %v; want nil (the first landed)", err)
	}
}
