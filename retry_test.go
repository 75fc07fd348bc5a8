package lock

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, max := range []time.Duration{time.Millisecond, 100 * time.Millisecond, 3 * time.Second} {
		b := backoff{max: max}
		step := max / 16
		if step < time.Millisecond {
			step = time.Millisecond
		}
		for i := range 12 {
			p := b.next()
			if p < step/2 || p > step {
				t.Fatalf("backoff(max %v) pause %d = %v; want within [%v, %v]", max, i, p, step/2, step)
			}
			step = min(2*step, max)
		}
		if b.step != max {
			t.Errorf("backoff(max %v) step after 12 pauses = %v; want the cap %v", max, b.step, max)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	b := backoff{max: time.Second}
	for range 8 {
		b.next()
	}
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.next()] = true
	}
	if len(seen) < 10 {
		t.Errorf("20 capped pauses took %d distinct values; want them jittered", len(seen))
	}
}

// TestRetry checks how many sends retry makes: tries at most, one when the
// error is an answer or final, and none after a ctx ends in a pause.
func TestRetry(t *testing.T) {
	inTransitErr := fmt.Errorf("%w: reset", ErrUnavailable)
	bo := backoff{max: time.Millisecond}
	for _, tc := range []struct {
		name  string
		tries int
		errs  []error // send's results, the last repeated
		final func(error) bool
		want  int
	}{
		{"succeeds at once", 3, []error{nil}, nil, 1},
		{"succeeds on the second", 3, []error{inTransitErr, nil}, nil, 2},
		{"in transit throughout", 3, []error{inTransitErr}, nil, 3},
		{"an answer", 3, []error{ErrNotHeld}, nil, 1},
		{"a final error", 3, []error{inTransitErr}, func(error) bool { return true }, 1},
		{"no limit", 0, []error{inTransitErr, inTransitErr, inTransitErr, inTransitErr, nil}, nil, 5},
	} {
		sends := 0
		err := retry(context.Background(), bo, tc.tries, tc.final, func() error {
			sends++
			return tc.errs[min(sends, len(tc.errs))-1]
		})
		if sends != tc.want || err != tc.errs[min(sends, len(tc.errs))-1] {
			t.Errorf("%s: %d sends, error %v; want %d sends and the last send's error", tc.name, sends, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	sends := 0
	err := retry(ctx, backoff{max: time.Hour}, 0, nil, func() error {
		sends++
		cancel() // during the pause that follows
		return inTransitErr
	})
	if sends != 1 || !errors.Is(err, ErrUnavailable) {
		t.Errorf("retry with its ctx ending in a pause: %d sends, error %v; want 1 send and its error", sends, err)
	}
}

// countingBackend fails every Release in transit, and counts them.
type countingBackend struct {
	refusedBackend
	releases atomic.Int32
}

func (b *countingBackend) Acquire(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}

func (b *countingBackend) Release(context.Context, string, string) (bool, error) {
	b.releases.Add(1)
	return false, fmt.Errorf("%w: reset", ErrUnavailable)
}

// TestReleaseSends checks the most sends of one Release: ReleaseTries,
// then the error, with the lease still holding its lock.
func TestReleaseSends(t *testing.T) {
	b := &countingBackend{}
	l := New(b, &Options{RetryInterval: time.Millisecond, CloseTimeout: 10 * time.Millisecond})
	defer l.Close()
	s, err := l.TryAcquire(context.Background(), "k", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Release(context.Background())
	if n := b.releases.Load(); n != ReleaseTries || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Release on a store that fails it in transit: %d sends, %v; want %d sends and ErrUnavailable", n, err, ReleaseTries)
	}
	if s.Err() != nil {
		t.Fatalf("lease after a Release that failed in transit: Err() = %v; want nil (it may still hold the lock)", s.Err())
	}
}
