package memcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// classic implements driver.Backend on memcached's classic text protocol,
// through a *memcache.Client given to New.
type classic struct {
	mc    *memcache.Client
	cfg   config
	wakes *wakes // of its client's scope
}

// transient reports whether err, from gomemcache, is a failure in transit,
// after which the outcome of the command is unknown, rather than an answer
// of the server.
func transient(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, memcache.ErrCacheMiss),
		errors.Is(err, memcache.ErrCASConflict),
		errors.Is(err, memcache.ErrNotStored),
		errors.Is(err, memcache.ErrMalformedKey),
		errors.Is(err, memcache.ErrNoServers),
		errors.Is(err, errNoCAS):
		return false
	}
	return true
}

// Acquire adds the key: one round trip. When the add fails in transit its
// outcome is unknown: it may have landed, even after the client gave up on
// it. The key is then read back before answering. If it holds our token,
// the add did land, at some moment before now, so the expiration is written
// again from now (a compare-and-swap on the cas id read) before the lock is
// reported held: it never expires early, and is not left orphaned. If it
// holds another token, the lock is not ours; if it is absent, the add was
// lost and is sent again, up to the configured retries.
func (b *classic) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	native, exp := b.cfg.keys.native(key), expiration(ttl)
	item := &memcache.Item{Key: native, Value: []byte(token), Expiration: exp}
	var (
		last error // of the last attempt that failed in transit
		sent bool  // an add was sent: it may have landed
	)
	for attempt := 0; ; attempt++ {
		if err := c.check(last); err != nil {
			return false, landed(err, sent)
		}
		err := b.mc.Add(item)
		sent = sent || !dialFailed(err)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, memcache.ErrNotStored) && attempt == 0:
			return false, nil
		case !transient(err) && !errors.Is(err, memcache.ErrNotStored):
			return false, landed(fmt.Errorf("memcached: %w", err), sent)
		}
		if transient(err) {
			last = err
		}
		// This add failed in transit, or an earlier one did and this one
		// found the key taken: whose token is stored?
		st, rerr := b.swap(&c, native, token, exp)
		switch {
		case rerr != nil:
			return false, landed(fmt.Errorf("memcached: add failed (%w), and reading it back failed: %w", last, rerr), sent)
		case st == swapped:
			return true, nil
		case st == other:
			return false, nil
		case attempt >= b.cfg.retries:
			return false, landed(unavailable(last), sent)
		}
		if err := pause(&c, attempt, last); err != nil {
			return false, landed(err, sent)
		}
	}
}

// dialFailed reports whether err shows that a command was never sent: its
// connection could not be dialled.
func dialFailed(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// Release expires the key at once with a compare-and-swap on the cas id of
// the item read, so it acts only if the token read is still stored.
func (b *classic) Release(ctx context.Context, key, token string) (bool, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	native := b.cfg.keys.native(key)
	st, err := b.swap(&c, native, token, -1)
	if st == swapped {
		b.wakes.wake(native)
	}
	return st == swapped, err
}

// Watch implements driver.Watcher for the releases made in this process:
// see wakes.
func (b *classic) Watch(key string) <-chan struct{} {
	return b.wakes.watch(b.cfg.keys.native(key))
}

// Extend sets the key's expiration with a compare-and-swap, as Release.
func (b *classic) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	st, err := b.swap(&c, b.cfg.keys.native(key), token, expiration(ttl))
	return st == swapped, err
}

// swap gets native and, if it stores token, writes token back with exp by a
// compare-and-swap on the cas id read: two round trips, atomic through the
// cas id. exp -1 expires the item at once: memcached then treats the key as
// absent, and no plain delete, which would not check the owner, is needed.
// Failures in transit are retried as retrySwap says.
func (b *classic) swap(c *call, native, token string, exp int32) (state, error) {
	return retrySwap(c, exp < 0, b.cfg.retries, transient, func() (state, bool, error) {
		return b.swapOnce(native, token, exp)
	})
}

// swapOnce is one attempt of swap. casSent reports whether the cas was sent.
func (b *classic) swapOnce(native, token string, exp int32) (st state, casSent bool, err error) {
	item, err := b.mc.Get(native)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return absent, false, nil
	case err != nil:
		return absent, false, err
	case string(item.Value) != token:
		return other, false, nil
	case item.CasID == 0:
		return absent, false, errNoCAS
	}
	item.Expiration = exp
	switch err := b.mc.CompareAndSwap(item); {
	case err == nil:
		return swapped, true, nil
	case errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored):
		return absent, true, nil // expired between the get and the cas
	case errors.Is(err, memcache.ErrCASConflict):
		return changed, true, nil
	default:
		return absent, true, err
	}
}

// Close leaves the client open: it is the caller's.
func (b *classic) Close() error {
	b.wakes.close()
	return nil
}

// Scope implements driver.Scoper: the Locks of the same client, prefix and
// max_key_size share their waits.
func (b *classic) Scope() string { return "memcached " + b.wakes.scope + " " + b.cfg.keys.scope() }
