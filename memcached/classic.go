package memcached

import (
	"errors"
	"net"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock/memcached/internal/mc"
)

// classic implements driver.Backend on memcached's classic text protocol,
// through a *memcache.Client given to New.
type classic struct {
	locks
	mc *memcache.Client
}

// inTransit implements protocol for gomemcache's errors: all but the
// server's answers (a server without cas ids included) and the client's
// refusals to send. It exists beside the Lock's rules (network and I/O
// errors) because gomemcache also fails commands whose outcome is unknown
// with errors of its own (ErrServerError, an unexpected or corrupt reply):
// it lists the answers, and counts the rest in transit.
func (*classic) inTransit(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, memcache.ErrCacheMiss),
		errors.Is(err, memcache.ErrCASConflict),
		errors.Is(err, memcache.ErrNotStored),
		errors.Is(err, memcache.ErrMalformedKey),
		errors.Is(err, memcache.ErrNoServers),
		errors.Is(err, mc.ErrNoCAS):
		return false
	}
	return true
}

// add implements protocol: "add".
func (b *classic) add(_ *call, native, token string, exp int32) (stored, sent bool, err error) {
	err = b.mc.Add(&memcache.Item{Key: native, Value: []byte(token), Expiration: exp})
	switch {
	case err == nil:
		return true, true, nil
	case errors.Is(err, memcache.ErrNotStored):
		return false, true, nil
	}
	return false, !dialFailed(err), err
}

// dialFailed reports whether err shows that a command was never sent: its
// connection could not be dialled.
func dialFailed(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// swapOnce implements protocol: "gets" then "cas": two round trips, atomic
// through the cas id. exp -1 expires the item at once: memcached then
// treats the key as absent, and no plain delete, which would not check the
// owner, is needed.
func (b *classic) swapOnce(_ *call, native, token string, exp int32) (mc.Status, error) {
	item, err := b.mc.Get(native)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return mc.NotFound, nil
	case err != nil:
		return 0, err
	case string(item.Value) != token:
		return mc.NotStored, nil
	case item.CasID == 0:
		return 0, mc.ErrNoCAS
	}
	item.Expiration = exp
	switch err := b.mc.CompareAndSwap(item); {
	case err == nil:
		return mc.Stored, nil
	case errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored):
		return mc.NotFound, nil // expired between the get and the cas
	case errors.Is(err, memcache.ErrCASConflict):
		return mc.Exists, nil
	default:
		return 0, err
	}
}

// Close leaves the client open: it is the caller's.
func (b *classic) Close() error {
	b.wakes.close()
	return nil
}
