package memcachedtest

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"strconv"
	"strings"
)

// This file holds the dispatch of a command line to its command, and the
// classic commands: add, cas, gets and delete (stats is in stats.go, the
// meta commands in meta.go).

// maxKeyLength is memcached's KEY_MAX_LENGTH.
const maxKeyLength = 250

// badFormat is memcached's reply to a malformed command line.
const badFormat = "CLIENT_ERROR bad command line format"

// handle executes one command, writing its reply to out (unless noreply), and
// reports whether the connection stays open.
func (s *Server) handle(toks []string, r *bufio.Reader, out *bytes.Buffer) bool {
	// ntok counts the real tokens; memcached's ntokens is one more.
	ntok := len(toks)
	if ntok == 0 {
		out.WriteString("ERROR\r\n")
		return true
	}
	verb := toks[0]
	if verb[0] == 'g' && ntok < 2 {
		out.WriteString("ERROR\r\n")
		return true
	}
	switch {
	case verb == "gets":
		s.gets(toks[1:], out)
	case verb == "mg" || verb == "ms" || verb == "md" || verb == "ma":
		if ntok < 2 {
			out.WriteString("ERROR\r\n")
			return true
		}
		switch verb {
		case "mg":
			s.metaGet(toks, out)
		case "ms":
			return s.metaSet(toks, r, out)
		case "ma":
			s.metaArith(toks, out)
		default:
			s.metaDelete(toks, out)
		}
	case verb == "mn":
		out.WriteString("MN\r\n")
	case verb == "add":
		if ntok != 5 && ntok != 6 {
			out.WriteString("ERROR\r\n")
			return true
		}
		return s.store(toks, r, out)
	case verb == "cas":
		if ntok != 6 && ntok != 7 {
			out.WriteString("ERROR\r\n")
			return true
		}
		return s.store(toks, r, out)
	case verb == "delete":
		if ntok < 2 || ntok > 4 {
			out.WriteString("ERROR\r\n")
			return true
		}
		s.delete(toks, out)
	case verb == "stats":
		s.stats(toks, out)
	case strings.HasPrefix(toks[ntok-1], "HTTP/"):
		// memcached hangs up on what looks like an HTTP request.
		return false
	default:
		out.WriteString("ERROR\r\n")
	}
	return true
}

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

// gets handles gets of the given keys.
func (s *Server) gets(keys []string, out *bytes.Buffer) {
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
		s.st.cmdGet++
		it := s.lookup(k, now)
		if it == nil {
			s.st.getMisses++
			continue
		}
		s.st.getHits++
		out.WriteString("VALUE ")
		out.WriteString(k)
		out.WriteByte(' ')
		out.WriteString(strconv.FormatUint(uint64(it.flags), 10))
		out.WriteByte(' ')
		out.WriteString(strconv.Itoa(len(it.value)))
		out.WriteByte(' ')
		out.WriteString(strconv.FormatUint(s.casOf(it), 10))
		out.WriteString("\r\n")
		out.Write(it.value)
		out.WriteString("\r\n")
	}
	out.WriteString("END\r\n")
}

// store handles add and cas. It reports whether the connection stays open.
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
		_, err := io.CopyN(io.Discard, r, int64(vlen)+2)
		return err == nil
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
	switch {
	case verb == "add" && old != nil:
		result = "NOT_STORED"
	case verb == "add":
		s.link(key, newItem)
		result = "STORED"
	case old == nil:
		s.st.casMisses++
		result = "NOT_FOUND"
	case old.cas != reqCas, s.noCAS:
		s.st.casBadval++
		result = "EXISTS"
	default:
		s.st.casHits++
		s.link(key, newItem)
		result = "STORED"
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
