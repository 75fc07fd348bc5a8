package memcached

import (
	"errors"
	"net"

	"github.com/bradfitz/gomemcache/memcache"
)

// classic implements driver.Backend on memcached's classic text protocol,
// through a *memcache.Client given to New.
type classic struct {
	locks
	mc *memcache.Client
}

// inTransit implements protocol: gomemcache's errors that are not the
// server's answers.
func (*classic) inTransit(err error) bool {
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
func (b *classic) swapOnce(_ *call, native, token string, exp int32) (st state, err error) {
	item, err := b.mc.Get(native)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return absent, nil
	case err != nil:
		return absent, err
	case string(item.Value) != token:
		return other, nil
	case item.CasID == 0:
		return absent, errNoCAS
	}
	item.Expiration = exp
	switch err := b.mc.CompareAndSwap(item); {
	case err == nil:
		return swapped, nil
	case errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored):
		return absent, nil // expired between the get and the cas
	case errors.Is(err, memcache.ErrCASConflict):
		return changed, nil
	default:
		return absent, err
	}
}

// Close leaves the client open: it is the caller's.
func (b *classic) Close() error {
	b.wakes.close()
	return nil
}
