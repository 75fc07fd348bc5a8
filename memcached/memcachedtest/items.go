package memcachedtest

import (
	"math"
	"sort"
)

// This file holds the items, memcached's whole-second clock for their
// expiration times, and the size limit of an item.

const (
	// maxRelativeExptime is memcached's REALTIME_MAXDELTA: larger expiration
	// times are absolute Unix times.
	maxRelativeExptime = 60 * 60 * 24 * 30

	// itemSizeMax is memcached's default item size limit (-I 1m).
	itemSizeMax = 1 << 20

	// itemHeaderSize is the size of memcached's item header on a 64-bit
	// build, plus the 8-byte CAS field.
	itemHeaderSize = 48 + 8
)

// expiredAlready is an expiration second that is always in the past.
const expiredAlready = math.MinInt64

// item is a stored value. Its value slice is never modified in place.
type item struct {
	value []byte
	flags uint32
	exp   int64 // Unix second at which the item expires; 0 means never
	cas   uint64
}

// expired reports whether it has expired at the Unix second now.
func (it *item) expired(now int64) bool {
	return it.exp != 0 && now >= it.exp
}

// Keys returns the keys of the live (unexpired) items, sorted.
func (s *Server) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	keys := make([]string, 0, len(s.items))
	for k, it := range s.items {
		if it.expired(now) {
			delete(s.items, k)
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// nowSec returns the server's current time in whole Unix seconds.
func (s *Server) nowSec() int64 {
	return s.now().Unix()
}

// expiry converts a protocol expiration time into the Unix second at which
// the item expires (0 for never), like memcached's realtime.
func (s *Server) expiry(exptime int32, now int64) int64 {
	switch {
	case exptime < 0:
		return expiredAlready
	case exptime == 0:
		return 0
	case exptime > maxRelativeExptime:
		if int64(exptime) <= s.startSec {
			return expiredAlready
		}
		return int64(exptime)
	default:
		return now + int64(exptime)
	}
}

// lookup returns the live item for key, removing it if it has expired. The
// caller holds s.mu.
func (s *Server) lookup(key string, now int64) *item {
	it := s.items[key]
	if it == nil {
		return nil
	}
	if it.expired(now) {
		delete(s.items, key)
		return nil
	}
	return it
}

// link stores it under key with a fresh CAS id. The caller holds s.mu.
func (s *Server) link(key string, it *item) {
	s.casSeq++
	it.cas = s.casSeq
	s.items[key] = it
	s.st.totalItems++
}

// casOf is the cas id of it as the server reports it: 0 with NoCAS.
func (s *Server) casOf(it *item) uint64 {
	if s.noCAS {
		return 0
	}
	return it.cas
}

// sizeOK reports whether an item fits memcached's default 1 MiB item size
// limit; n is the length of the value without its trailing "\r\n".
func sizeOK(keyLen int, flags uint32, n int64) bool {
	total := int64(itemHeaderSize) + int64(keyLen) + 1 + n + 2
	if flags != 0 {
		total += 4
	}
	return total <= itemSizeMax
}
