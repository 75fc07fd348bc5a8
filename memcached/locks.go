package memcached

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distlock/lock/memcached/internal/mc"
)

// The lock algorithm, written once over the two protocols: a protocol
// sends one add and one compare-and-swap (with the read it may need), and
// locks does the rest. Neither resends a command that failed in transit:
// they resolve an ambiguous reply by reading the lock back, and leave
// every resend to the Lock.

// protocol is what the lock algorithm needs of a protocol.
type protocol interface {
	// add sends one add of token under native, with expiration exp, and
	// reports whether it stored it and whether it was sent (it may have
	// landed).
	add(c *call, native, token string, exp int32) (stored, sent bool, err error)
	// swapOnce acts on native if it stores token, by a compare-and-swap on
	// the item's cas id: exp < 0 deletes it, otherwise token is stored
	// again with expiration exp. It reports what it found in memcached's
	// reply codes, whichever the protocol: mc.Stored (our token, now
	// deleted or expired, or stored with the new expiration), mc.NotStored
	// (an item with another token: the key is another owner's, as when an
	// add is not stored), mc.Exists (the item changed between the read
	// and the compare-and-swap) or mc.NotFound (no item); 0 with an error.
	swapOnce(c *call, native, token string, exp int32) (mc.Status, error)
	// inTransit reports whether err, from the protocol's client, is a
	// failure in transit, after which the outcome of the command is
	// unknown, rather than an answer of the server: the algorithm reads an
	// add back, and wraps lock.ErrUnavailable, on it. Each protocol has
	// its own, for its client's errors: their docs say why the Lock's
	// rules are not enough.
	inTransit(err error) bool
}

// locks implements driver.Backend's primitives and driver.Watcher over a
// protocol: the backend of both kinds of Lock embeds it.
type locks struct {
	p     protocol
	cfg   config
	wakes *wakes // of the servers' (or client's) scope
}

// Acquire adds the key: one round trip, and a read-back when the add's
// outcome is unknown (see acquireOnce).
func (b *locks) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	native, exp := b.cfg.keys.native(key), expiration(ttl)
	return acquireOnce(&c, b.p.inTransit,
		func() (bool, bool, error) { return b.p.add(&c, native, token, exp) },
		func() (mc.Status, error) { return b.swap(&c, native, token, exp) })
}

// Release deletes the key by a compare-and-swap on its cas id, so it acts
// only if the token is still stored, and wakes this process's waits on
// the key.
func (b *locks) Release(ctx context.Context, key, token string) (bool, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	native := b.cfg.keys.native(key)
	st, err := b.swap(&c, native, token, -1)
	if st == mc.Stored {
		b.wakes.wake(native)
	}
	return st == mc.Stored, err
}

// Extend stores the token again with the new expiration, by a
// compare-and-swap on its cas id, as Release.
func (b *locks) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	st, err := b.swap(&c, b.cfg.keys.native(key), token, expiration(ttl))
	return st == mc.Stored, err
}

// Watch implements driver.Watcher for the releases made in this process:
// see wakes.
func (b *locks) Watch(key string) <-chan struct{} {
	return b.wakes.watch(b.cfg.keys.native(key))
}

// Scope implements driver.Scoper: the Locks of the same servers (or of the
// same client, given to New), prefix and max_key_size share their waits.
func (b *locks) Scope() string { return "memcached " + b.wakes.scope + " " + b.cfg.keys.scope() }

// swap acts on native if it stores token (see protocol.swapOnce), as
// settleSwap says.
func (b *locks) swap(c *call, native, token string, exp int32) (mc.Status, error) {
	if err := c.check(nil); err != nil {
		return 0, err
	}
	return settleSwap(b.p.inTransit, func() (mc.Status, error) { return b.p.swapOnce(c, native, token, exp) })
}

// acquireOnce is the lock algorithm, over either protocol: add sends one
// add of the token, and reports whether it stored it and whether it was
// sent. When the add fails in transit after it was sent, its outcome is
// unknown: it may have landed, even after the client gave up on it. The
// key is then read back, once, by readBack (a swap that writes the
// expiration again): if it holds our token, the add did land, at some
// moment before now, so the expiration is written again from now before
// the lock is reported held (it never expires early, and is not left
// orphaned); if it holds another token, the lock is not ours; if it is
// absent, the add was lost (or is still on its way), and the outcome stays
// unknown: the error wraps lock.ErrUnavailable, and the Lock, which
// decides every resend, releases the token in the background.
func acquireOnce(c *call, inTransit func(error) bool, add func() (stored, sent bool, err error), readBack func() (mc.Status, error)) (bool, error) {
	if err := c.check(nil); err != nil {
		return false, err
	}
	stored, sent, err := add()
	switch {
	case err == nil:
		return stored, nil
	case !sent:
		return false, wrap(err)
	case !inTransit(err):
		return false, landed(wrap(err), sent)
	}
	st, rerr := readBack()
	switch {
	case rerr != nil:
		return false, landed(fmt.Errorf("memcached: add failed (%w), and reading it back failed: %w", err, rerr), sent)
	case st == mc.Stored:
		return true, nil
	case st == mc.NotStored:
		return false, nil
	}
	return false, unavailable(err)
}

// settleSwap runs attempt, one compare-and-swap on the item of a lock
// (with the read it may need), and maps its outcome to the answer of a
// release or an extend. An item whose cas id changed between the read and
// the compare-and-swap is read again rather than taken for another
// owner's: an extend of ours whose reply was lost may have landed late,
// changing the cas id of an item that still holds our token. A failure in
// transit is not resent here: it wraps lock.ErrUnavailable, and the Lock,
// which knows the lease's deadline, sends the release again (and takes a
// token found gone before that deadline for its earlier try, landed) or
// the extend at the keep-alive's next step. Another owner's lock is never
// touched.
func settleSwap(inTransit func(error) bool, attempt func() (mc.Status, error)) (mc.Status, error) {
	for changes := 0; ; changes++ {
		st, err := attempt()
		switch {
		case err == nil && st == mc.Exists && changes < maxChanges:
			continue
		case err == nil && st == mc.Exists:
			return 0, errors.New("memcached: the item kept changing under the compare-and-swap")
		case err == nil:
			return st, nil
		}
		return 0, settleError(inTransit, err)
	}
}
