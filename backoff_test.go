package lock

import (
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
