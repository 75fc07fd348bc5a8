package lock

import (
	"context"
	"math/rand/v2"
	"time"
)

// The Lock's one retry policy. Every pause before the store is asked
// again (between a wait's attempts, a release's tries, a keep-alive's
// extends while they fail, the tries of a failed attempt's clean-up) is a
// step of backoff, capped for its use; every resend that a caller waits
// for goes through retry. Backends do not retry: they resolve an ambiguous
// reply (a read back after a lost one), and otherwise return an error that
// wraps ErrUnavailable, which the Lock retries here.

// backoff yields pauses: from max/16, doubling up to max, each drawn
// uniformly from the upper half of its step so that clients spread out.
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

// retry calls send until it returns nil, an error not in transit, or one
// that final says to keep, or until it has been called tries times (0: no
// limit but ctx), pausing bo's steps in between. It returns send's last
// error; a ctx that ends during a pause ends it with that error too.
func retry(ctx context.Context, bo backoff, tries int, final func(error) bool, send func() error) error {
	for try := 1; ; try++ {
		err := send()
		if err == nil || !inTransit(err) || (final != nil && final(err)) || try == tries || sleep(ctx, bo.next()) != nil {
			return err
		}
	}
}

// sleep pauses for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
