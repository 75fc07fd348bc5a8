package memcachedfake

// This file holds the items and memcached's whole-second clock.

// item is a stored value. Its value slice is never modified in place.
type item struct {
	value []byte
	flags uint32
	exp   int64 // Unix second at which the item expires; 0 means never
	cas   uint64
	time  int64 // Unix second of the last store, for flush_all
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

// dead reports whether it has expired or been flushed. The caller holds s.mu.
func (s *Server) dead(it *item, now int64) bool {
	if it.exp != 0 && now >= it.exp {
		return true
	}
	if s.oldestLive != 0 && s.oldestLive <= now {
		if it.time <= s.oldestLive || (s.oldestCas != 0 && it.cas < s.oldestCas) {
			return true
		}
	}
	return false
}

// lookup returns the live item for key, removing it if it is dead. The
// caller holds s.mu.
func (s *Server) lookup(key string, now int64) *item {
	it := s.items[key]
	if it == nil {
		return nil
	}
	if s.dead(it, now) {
		delete(s.items, key)
		return nil
	}
	return it
}

// link stores it under key with a fresh CAS id. The caller holds s.mu.
func (s *Server) link(key string, it *item, now int64) {
	s.casSeq++
	it.cas = s.casSeq
	it.time = now
	s.items[key] = it
	s.st.totalItems++
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
