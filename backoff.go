package lock

import (
	"math/rand/v2"
	"time"
)

// backoff yields the pauses of a wait: from max/16, doubling up to max, each
// drawn uniformly from the upper half of its step so that waiters spread out.
type backoff struct {
	max  time.Duration
	step time.Duration
}

func (b *backoff) next() time.Duration {
	if b.step == 0 {
		b.step = max(b.max/16, time.Millisecond)
	} else {
		b.step = min(2*b.step, b.max)
	}
	if b.step > b.max {
		b.step = b.max
	}
	half := b.step / 2
	return half + rand.N(b.step-half+1)
}
