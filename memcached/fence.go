package memcached

import (
	"context"
	"fmt"
	"time"

	"github.com/distlock/lock/memcached/internal/mc"
)

// Fencing tokens, for Locks made by Dial with Options.Fence: see the
// package doc, # Fencing.

// counterLife is how long a fence counter lives after its last use, in
// seconds: every increment sets its expiration again.
const counterLife = 24 * 60 * 60

// fenceScale is the factor from the server's clock, in seconds, to the
// value a lost counter comes back at: the tokens it hands out stay ahead of
// those of a counter lost before as long as a key is acquired (or tried)
// fewer than fenceScale times per second.
const fenceScale = 1_000_000

// fencedMeta is the meta backend with fencing tokens: it implements
// driver.Fencer. (The backend is no driver.TTLReporter, so it needs no
// driver.FencedTTLReporter either.)
type fencedMeta struct{ *meta }

// Acquire is AcquireFenced without the token, so that every acquisition,
// whichever the caller, moves the counter on.
func (b fencedMeta) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, _, err := b.AcquireFenced(ctx, key, token, ttl)
	return ok, err
}

// AcquireFenced implements driver.Fencer: the add of the lock and the
// increment of its counter in one round trip ("ms <key> <n> T<exp> ME c"
// and "ma <counter> T<life> v", on one connection, in one write). The
// fence is the counter's value returned to the add that stored the lock.
// When the counter is missing, the server's clock is read and the counter
// made anew from it (see fenceFromClock). When the add's outcome is
// unknown, the lock is read back as Acquire does, and if it holds token,
// the fence is the one remembered for token, or else the counter's next
// value (see nextFence).
func (b fencedMeta) AcquireFenced(ctx context.Context, key, token string, ttl time.Duration) (bool, uint64, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	native, exp := b.cfg.keys.native(key), expiration(ttl)
	var fence uint64
	ok, err := acquireOnce(&c, b.inTransit,
		func() (stored, sent bool, err error) {
			stored, sent, fence, err = b.addFenced(&c, native, token, exp)
			return stored, sent, err
		},
		func() (mc.Status, error) {
			st, err := b.swap(&c, native, token, exp)
			if err != nil || st != mc.Stored {
				return st, err
			}
			if fence = b.hints.fence(native, token); fence != 0 {
				return st, nil
			}
			if fence, err = b.nextFence(&c, native); err != nil {
				return 0, err
			}
			b.hints.setFence(native, token, fence)
			return st, nil
		})
	if !ok || err != nil {
		return false, 0, err
	}
	return true, fence, nil
}

// addFenced is meta.add with the increment of the counter pipelined after
// it. A stored add whose increment finds the counter missing makes it
// anew, on the same connection. A stored add whose increment failed
// reports the increment's error, as an add whose outcome is unknown:
// acquireOnce then reads the lock back and takes the counter's next value
// (or, if the error is an answer, gives up, and the Lock releases the
// token).
func (b fencedMeta) addFenced(c *call, native, token string, exp int32) (stored, sent bool, fence uint64, err error) {
	counter := b.cfg.keys.fence(native)
	var (
		r  mc.FencedAdd
		id mc.ServerID
	)
	// The counter goes to the server of the lock, not of its own key.
	err = b.run(c, b.mc.Servers().Index(native), func(cn *mc.Conn) error {
		sent, id = true, cn.ID()
		r = cn.AddFenced(c.ctx, native, token, exp, counter, counterLife)
		if r.Err == nil && r.St == mc.Stored && r.IncrErr == nil && r.IncrSt == mc.NotFound {
			r.Fence, r.IncrErr = fenceFromClock(c.ctx, cn, counter)
			r.IncrSt = mc.Stored
		}
		return r.Err
	})
	switch {
	case err != nil:
		return false, sent, 0, err
	case r.St == mc.NotStored:
		return false, true, 0, nil
	case r.St != mc.Stored:
		return false, true, 0, fmt.Errorf("add: unexpected status %d", r.St)
	}
	switch {
	case r.IncrErr != nil:
		err = c.cut(r.IncrErr)
	case r.IncrSt != mc.Stored || r.Fence == 0:
		err = fmt.Errorf("fence counter: unexpected status %d, value %d", r.IncrSt, r.Fence)
	}
	if err != nil {
		b.hints.put(native, token, r.CAS, id, exp, 0)
		return false, true, 0, fmt.Errorf("memcached: the lock was stored, but its fencing token was not read: %w", err)
	}
	b.hints.put(native, token, r.CAS, id, exp, r.Fence)
	return true, true, r.Fence, nil
}

// nextFence increments the counter of the lock stored under native, or
// makes it anew, and returns its value: the fence of an acquisition whose
// own increment was not read (its reply lost, or never sent). It is above
// every fence handed out before it, and below every one handed out after.
// It is above the acquisition's own increment too, if that landed, but an
// acquisition has one fence, the one returned first: the Lock's waits
// make each attempt with a token of its own, and the hints remember the
// fence returned for a token.
func (b fencedMeta) nextFence(c *call, native string) (uint64, error) {
	counter := b.cfg.keys.fence(native)
	var fence uint64
	err := b.run(c, b.mc.Servers().Index(native), func(cn *mc.Conn) error {
		st, n, err := cn.Incr(c.ctx, counter, counterLife)
		switch {
		case err != nil:
			return err
		case st == mc.NotFound:
			fence, err = fenceFromClock(c.ctx, cn, counter)
			return err
		case st != mc.Stored || n == 0:
			return fmt.Errorf("fence counter: unexpected status %d, value %d", st, n)
		}
		fence = n
		return nil
	})
	if err != nil {
		return 0, settleError(b.inTransit, err)
	}
	return fence, nil
}

// fenceFromClock makes the counter anew, when an increment found it
// missing (never made, expired, evicted, flushed, or lost in a restart):
// it reads the server's clock, and increments the counter or, if it is
// still missing, creates it at (time+1)*fenceScale, in one atomic step, so
// that a racer that made it meanwhile is counted after, not overwritten.
func fenceFromClock(ctx context.Context, cn *mc.Conn, counter string) (uint64, error) {
	now, err := cn.Time(ctx)
	if err != nil {
		return 0, err
	}
	n, err := cn.IncrOrCreate(ctx, counter, counterLife, uint64(now+1)*fenceScale)
	if err == nil && n == 0 {
		err = fmt.Errorf("fence counter: value 0")
	}
	return n, err
}
