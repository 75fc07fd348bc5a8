package memcachedfake

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"strconv"
)

// This file holds the commands of the classic text protocol.

// hasNoreply reports whether the last token is "noreply", like memcached's
// set_noreply_maybe.
func hasNoreply(toks []string) bool {
	return len(toks) > 0 && toks[len(toks)-1] == "noreply"
}

// reply writes line unless noreply is set.
func reply(out *bytes.Buffer, noreply bool, line string) {
	if !noreply {
		out.WriteString(line)
		out.WriteString("\r\n")
	}
}

// badFormat is memcached's reply to a malformed command line.
const badFormat = "CLIENT_ERROR bad command line format"

// get handles get, gets, gat and gats.
func (s *Server) get(toks []string, out *bytes.Buffer) {
	verb := toks[0]
	withCas := verb == "gets" || verb == "gats"
	touch := verb == "gat" || verb == "gats"
	keys := toks[1:]
	var exptime int32
	if touch {
		var ok bool
		exptime, ok = strtol32(toks[1])
		if !ok {
			out.WriteString("CLIENT_ERROR invalid exptime argument\r\n")
			return
		}
		keys = toks[2:]
	}
	for _, k := range keys {
		if len(k) > maxKeyLength {
			out.WriteString(badFormat + "\r\n")
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	for _, k := range keys {
		if touch {
			s.st.cmdTouch++
		} else {
			s.st.cmdGet++
		}
		it := s.lookup(k, now)
		if it == nil {
			if touch {
				s.st.touchMisses++
			} else {
				s.st.getMisses++
			}
			continue
		}
		if touch {
			s.st.touchHits++
			it.exp = s.expiry(exptime, now)
		} else {
			s.st.getHits++
		}
		out.WriteString("VALUE ")
		out.WriteString(k)
		out.WriteByte(' ')
		out.WriteString(strconv.FormatUint(uint64(it.flags), 10))
		out.WriteByte(' ')
		out.WriteString(strconv.Itoa(len(it.value)))
		if withCas {
			cas := it.cas
			if s.noCAS {
				cas = 0
			}
			out.WriteByte(' ')
			out.WriteString(strconv.FormatUint(cas, 10))
		}
		out.WriteString("\r\n")
		out.Write(it.value)
		out.WriteString("\r\n")
	}
	out.WriteString("END\r\n")
}

// store handles set, add, replace, append, prepend and cas. It reports
// whether the connection stays open.
func (s *Server) store(toks []string, r *bufio.Reader, out *bytes.Buffer) bool {
	verb, key := toks[0], toks[1]
	noreply := hasNoreply(toks)
	if len(key) > maxKeyLength {
		reply(out, noreply, badFormat)
		return true
	}
	flags, ok1 := strtoul32(toks[2])
	exptime, ok2 := strtol32(toks[3])
	vlen, ok3 := strtol32(toks[4])
	if !ok1 || !ok2 || !ok3 {
		reply(out, noreply, badFormat)
		return true
	}
	var reqCas uint64
	if verb == "cas" {
		var ok bool
		if reqCas, ok = strtoull(toks[5]); !ok {
			reply(out, noreply, badFormat)
			return true
		}
	}
	if vlen < 0 || vlen > math.MaxInt32-2 {
		reply(out, noreply, badFormat)
		return true
	}
	if !sizeOK(len(key), flags, int64(vlen)) {
		reply(out, noreply, "SERVER_ERROR object too large for cache")
		if _, err := io.CopyN(io.Discard, r, int64(vlen)+2); err != nil {
			return false
		}
		if verb == "set" {
			// memcached drops the old value rather than keep stale data.
			s.mu.Lock()
			delete(s.items, key)
			s.mu.Unlock()
		}
		return true
	}
	data := make([]byte, int(vlen)+2)
	if _, err := io.ReadFull(r, data); err != nil {
		return false
	}
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		reply(out, noreply, "CLIENT_ERROR bad data chunk")
		return true
	}
	value := data[:vlen:vlen]

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	s.st.cmdSet++
	old := s.lookup(key, now)
	newItem := &item{value: value, flags: flags, exp: s.expiry(exptime, now)}
	var result string
	switch verb {
	case "set":
		s.link(key, newItem, now)
		result = "STORED"
	case "add":
		if old != nil {
			result = "NOT_STORED"
		} else {
			s.link(key, newItem, now)
			result = "STORED"
		}
	case "replace":
		if old == nil {
			result = "NOT_STORED"
		} else {
			s.link(key, newItem, now)
			result = "STORED"
		}
	case "append", "prepend":
		switch {
		case old == nil:
			result = "NOT_STORED"
		case !sizeOK(len(key), old.flags, int64(len(old.value)+len(value))):
			result = "NOT_STORED"
		default:
			joined := make([]byte, 0, len(old.value)+len(value))
			if verb == "append" {
				joined = append(append(joined, old.value...), value...)
			} else {
				joined = append(append(joined, value...), old.value...)
			}
			s.link(key, &item{value: joined, flags: old.flags, exp: old.exp}, now)
			result = "STORED"
		}
	case "cas":
		switch {
		case old == nil:
			s.st.casMisses++
			result = "NOT_FOUND"
		case old.cas != reqCas, s.noCAS:
			s.st.casBadval++
			result = "EXISTS"
		default:
			s.st.casHits++
			s.link(key, newItem, now)
			result = "STORED"
		}
	}
	reply(out, noreply, result)
	return true
}

// delete handles delete, which accepts a legacy hold time of 0.
func (s *Server) delete(toks []string, out *bytes.Buffer) {
	noreply := false
	if len(toks) > 2 {
		holdIsZero := toks[2] == "0"
		noreply = hasNoreply(toks)
		valid := (len(toks) == 3 && (holdIsZero || noreply)) ||
			(len(toks) == 4 && holdIsZero && noreply)
		if !valid {
			reply(out, noreply, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]")
			return
		}
	}
	key := toks[1]
	if len(key) > maxKeyLength {
		reply(out, noreply, badFormat)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookup(key, s.nowSec()) == nil {
		s.st.deleteMisses++
		reply(out, noreply, "NOT_FOUND")
		return
	}
	s.st.deleteHits++
	delete(s.items, key)
	reply(out, noreply, "DELETED")
}

// touch handles touch, which sets a new expiration time and keeps the CAS id.
func (s *Server) touch(toks []string, out *bytes.Buffer) {
	noreply := hasNoreply(toks)
	key := toks[1]
	if len(key) > maxKeyLength {
		reply(out, noreply, badFormat)
		return
	}
	exptime, ok := strtol32(toks[2])
	if !ok {
		reply(out, noreply, "CLIENT_ERROR invalid exptime argument")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	s.st.cmdTouch++
	it := s.lookup(key, now)
	if it == nil {
		s.st.touchMisses++
		reply(out, noreply, "NOT_FOUND")
		return
	}
	s.st.touchHits++
	it.exp = s.expiry(exptime, now)
	reply(out, noreply, "TOUCHED")
}

// arith handles incr and decr on values holding an unsigned decimal number.
func (s *Server) arith(toks []string, out *bytes.Buffer) {
	incr := toks[0] == "incr"
	noreply := hasNoreply(toks)
	key := toks[1]
	if len(key) > maxKeyLength {
		reply(out, noreply, badFormat)
		return
	}
	delta, ok := strtoull(toks[2])
	if !ok {
		reply(out, noreply, "CLIENT_ERROR invalid numeric delta argument")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	it := s.lookup(key, now)
	if it == nil {
		if incr {
			s.st.incrMisses++
		} else {
			s.st.decrMisses++
		}
		reply(out, noreply, "NOT_FOUND")
		return
	}
	// memcached parses the value followed by its "\r\n" with strtoull.
	cur, ok := strtoull(string(it.value) + "\r\n")
	if !ok {
		reply(out, noreply, "CLIENT_ERROR cannot increment or decrement non-numeric value")
		return
	}
	if incr {
		s.st.incrHits++
		cur += delta
	} else {
		s.st.decrHits++
		if delta > cur {
			cur = 0
		} else {
			cur -= delta
		}
	}
	digits := strconv.FormatUint(cur, 10)
	var value []byte
	if len(digits) <= len(it.value) {
		// memcached rewrites the value in place, padding it with spaces.
		value = append([]byte(digits), bytes.Repeat([]byte(" "), len(it.value)-len(digits))...)
	} else {
		value = []byte(digits)
	}
	s.casSeq++
	s.items[key] = &item{value: value, flags: it.flags, exp: it.exp, cas: s.casSeq, time: now}
	reply(out, noreply, digits)
}

// flushAll handles flush_all with an optional delay in seconds.
func (s *Server) flushAll(toks []string, out *bytes.Buffer) {
	noreply := hasNoreply(toks)
	var exptime int32
	want := 1
	if noreply {
		want = 2
	}
	if len(toks) != want {
		var ok bool
		if exptime, ok = strtol32(toks[1]); !ok {
			reply(out, noreply, "CLIENT_ERROR invalid exptime argument")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	s.st.cmdFlush++
	// This follows memcached's process_flush_all_command with relative
	// times replaced by Unix seconds.
	newOldest := now
	if exptime > 0 {
		newOldest = s.expiry(exptime, now)
		if newOldest == expiredAlready {
			newOldest = 1 // memcached's "expire at once", which disables the flush
		}
	}
	s.oldestLive = newOldest - 1
	if s.oldestLive <= now {
		s.casSeq++
		s.oldestCas = s.casSeq
	}
	for k, it := range s.items {
		if s.dead(it, now) {
			delete(s.items, k)
		}
	}
	reply(out, noreply, "OK")
}
