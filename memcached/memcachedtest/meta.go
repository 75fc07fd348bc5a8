package memcachedtest

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"strconv"
	"strings"
)

// This file holds the meta commands of memcached 1.6 (ms, md, mg, ma, mn),
// with the flags that carry no state beyond an item's value, flags,
// expiration and cas id:
//
//	mg: c f k O q s t T u v
//	ms: c C F k M (modes E, A, P, R, S) O q T
//	md: C k O q
//	ma: c C D J k M (modes I, +, D, -) N O q t T v
//
// The other flags that memcached knows (b, E, h, I, l, N, R, x and the
// like) are answered "CLIENT_ERROR invalid flag", as memcached answers
// flags it does not know; their behaviour is not emulated.

const (
	// maxMetaTokens is memcached's MFLAG_MAX_OPT_LENGTH: the most tokens a
	// meta command line may have, counting memcached's empty final token.
	maxMetaTokens = 20

	// maxOpaque is memcached's MFLAG_MAX_OPAQUE_LENGTH.
	maxOpaque = 32
)

// metaFlags are the flags of a meta command, parsed as memcached's
// _meta_flag_preparse does.
type metaFlags struct {
	noReply, value bool
	hasTTL, hasCas bool
	exptime        int32
	cas            uint64
	clientFlags    uint32
	mode           byte
	vivify         bool   // N: ma creates a missing item
	vivifyExptime  int32  // N's expiration
	initial, delta uint64 // J and D of ma
}

// parseMetaFlags parses the flag tokens of a meta command (those after the
// key, or after the data length of ms). It returns memcached's error line
// for the first error it meets, as memcached reports it: an unknown or
// repeated flag ends the parse at once; a flag with a bad token is noted
// and the parse goes on, so that a later error line takes its place.
func parseMetaFlags(toks []string, allowed string) (metaFlags, string) {
	var (
		f      metaFlags
		seen   [128]bool
		errstr string
	)
	for _, t := range toks {
		o := t[0]
		if o >= 127 || seen[o] {
			return f, "CLIENT_ERROR duplicate flag"
		}
		seen[o] = true
		if !strings.ContainsRune(allowed, rune(o)) {
			return f, "CLIENT_ERROR invalid flag"
		}
		switch o {
		case 'T':
			n, ok := strtol32(t[1:])
			if !ok {
				errstr = "CLIENT_ERROR bad token in command line format"
				continue
			}
			f.exptime, f.hasTTL = n, true
		case 'C':
			n, ok := strtoull(t[1:])
			if !ok {
				errstr = "CLIENT_ERROR bad token in command line format"
				continue
			}
			f.cas, f.hasCas = n, true
		case 'F':
			n, ok := strtoul32(t[1:])
			if !ok {
				if errstr == "" {
					errstr = badFormat // memcached's default error line
				}
				continue
			}
			f.clientFlags = n
		case 'M':
			if len(t) != 2 {
				errstr = "CLIENT_ERROR incorrect length for M token"
				continue
			}
			f.mode = t[1]
		case 'N':
			n, ok := strtol32(t[1:])
			if !ok {
				errstr = "CLIENT_ERROR bad token in command line format"
				continue
			}
			f.vivify, f.vivifyExptime = true, n
		case 'J', 'D':
			n, ok := strtoull(t[1:])
			if !ok {
				errstr = "CLIENT_ERROR invalid numeric value"
				continue
			}
			if o == 'J' {
				f.initial = n
			} else {
				f.delta = n
			}
		case 'q':
			f.noReply = true
		case 'v':
			f.value = true
		}
	}
	return f, errstr
}

// metaReturn appends to out the return flags of a meta command: for each
// flag token, in the order sent, what value(t) returns ("" for nothing).
// It reports false, having written memcached's error, for an opaque token
// that is too long.
func metaReturn(out *bytes.Buffer, toks []string, value func(t string) string) bool {
	for _, t := range toks {
		if t[0] == 'O' && len(t) > maxOpaque {
			return false
		}
	}
	for _, t := range toks {
		if v := value(t); v != "" {
			out.WriteByte(' ')
			out.WriteString(v)
		}
	}
	return true
}

// metaGet handles mg.
func (s *Server) metaGet(toks []string, out *bytes.Buffer) {
	key := toks[1]
	if len(key) > maxKeyLength {
		out.WriteString(badFormat + "\r\n")
		return
	}
	if len(toks)+1 > maxMetaTokens {
		out.WriteString("CLIENT_ERROR options flags are too long\r\n")
		return
	}
	flags := toks[2:]
	f, errstr := parseMetaFlags(flags, "cfkOqstTuv")
	if errstr != "" {
		out.WriteString(errstr + "\r\n")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	it := s.lookup(key, now)
	if f.hasTTL {
		s.st.cmdTouch++
	} else {
		s.st.cmdGet++
	}
	var line bytes.Buffer
	if it == nil {
		if f.hasTTL {
			s.st.touchMisses++
		} else {
			s.st.getMisses++
		}
		line.WriteString("EN")
		if !metaReturn(&line, flags, func(t string) string { return opaqueOrKey(t, key) }) {
			out.WriteString("CLIENT_ERROR opaque token too long\r\n")
			return
		}
		if !f.noReply {
			out.Write(line.Bytes())
			out.WriteString("\r\n")
		}
		return
	}
	if f.hasTTL {
		s.st.touchHits++
	} else {
		s.st.getHits++
	}
	if f.value {
		line.WriteString("VA " + strconv.Itoa(len(it.value)))
	} else {
		line.WriteString("HD")
	}
	ok := metaReturn(&line, flags, func(t string) string {
		switch t[0] {
		case 'T':
			it.exp = s.expiry(f.exptime, now)
		case 'c':
			return "c" + strconv.FormatUint(s.casOf(it), 10)
		case 'f':
			return "f" + strconv.FormatUint(uint64(it.flags), 10)
		case 's':
			return "s" + strconv.Itoa(len(it.value))
		case 't':
			if it.exp == 0 {
				return "t-1"
			}
			return "t" + strconv.FormatInt(it.exp-now, 10)
		}
		return opaqueOrKey(t, key)
	})
	if !ok {
		out.WriteString("CLIENT_ERROR opaque token too long\r\n")
		return
	}
	out.Write(line.Bytes())
	out.WriteString("\r\n")
	if f.value {
		out.Write(it.value)
		out.WriteString("\r\n")
	}
}

// opaqueOrKey is the return flag of t that every meta command echoes: an
// opaque token as it was sent, or the key for k.
func opaqueOrKey(t, key string) string {
	switch t[0] {
	case 'O':
		return t
	case 'k':
		return "k" + key
	}
	return ""
}

// metaSet handles ms, reading its data block from r. It reports whether
// the connection stays open.
func (s *Server) metaSet(toks []string, r *bufio.Reader, out *bytes.Buffer) bool {
	key := toks[1]
	if len(key) > maxKeyLength || len(toks) == 2 {
		out.WriteString(badFormat + "\r\n")
		return true
	}
	if len(toks)+1 > maxMetaTokens {
		out.WriteString("CLIENT_ERROR options flags too long\r\n")
		return true
	}
	vlen, ok := strtol32(toks[2])
	if !ok || vlen < 0 || vlen > math.MaxInt32-2 {
		out.WriteString(badFormat + "\r\n")
		return true
	}
	// After an error from here on, memcached swallows the data block.
	fail := func(errstr string) bool {
		out.WriteString(errstr + "\r\n")
		_, err := io.CopyN(io.Discard, r, int64(vlen)+2)
		return err == nil
	}
	flags := toks[3:]
	f, errstr := parseMetaFlags(flags, "cCFkMOqT")
	if errstr != "" {
		return fail(errstr)
	}
	for _, t := range flags {
		if t[0] == 'O' && len(t) > maxOpaque {
			return fail("CLIENT_ERROR opaque token too long")
		}
	}
	verb := "set"
	switch f.mode {
	case 0, 'S':
	case 'E':
		verb = "add"
	case 'A':
		verb = "append"
	case 'P':
		verb = "prepend"
	case 'R':
		verb = "replace"
	default:
		return fail("CLIENT_ERROR invalid mode for ms M token")
	}
	if f.hasCas && (verb == "set" || verb == "replace") {
		verb = "cas"
	}
	if !sizeOK(len(key), f.clientFlags, int64(vlen)) {
		s.mu.Lock()
		delete(s.items, key) // memcached drops the old value rather than keep stale data
		s.mu.Unlock()
		return fail("SERVER_ERROR object too large for cache")
	}
	data := make([]byte, int(vlen)+2)
	if _, err := io.ReadFull(r, data); err != nil {
		return false
	}
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		out.WriteString("CLIENT_ERROR bad data chunk\r\n")
		return true
	}
	value := data[:vlen:vlen]

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	s.st.cmdSet++
	old := s.lookup(key, now)
	exp := int64(0)
	if f.hasTTL {
		exp = s.expiry(f.exptime, now)
	}
	newItem := &item{value: value, flags: f.clientFlags, exp: exp}
	code := "HD"
	casMatch := func() bool { return !f.hasCas || (old.cas == f.cas && !s.noCAS) }
	switch verb {
	case "set":
		s.link(key, newItem)
	case "add":
		if old != nil {
			code = "NS"
		} else {
			s.link(key, newItem)
		}
	case "replace":
		if old == nil {
			code = "NS"
		} else {
			s.link(key, newItem)
		}
	case "cas":
		switch {
		case old == nil:
			s.st.casMisses++
			code = "NF"
		case !casMatch():
			s.st.casBadval++
			code = "EX"
		default:
			s.st.casHits++
			s.link(key, newItem)
		}
	case "append", "prepend":
		switch {
		case old == nil:
			code = "NS"
		case !casMatch():
			code = "EX"
		case !sizeOK(len(key), old.flags, int64(len(old.value)+len(value))):
			code = "NS"
		default:
			joined := make([]byte, 0, len(old.value)+len(value))
			if verb == "append" {
				joined = append(append(joined, old.value...), value...)
			} else {
				joined = append(append(joined, value...), old.value...)
			}
			newItem = &item{value: joined, flags: old.flags, exp: old.exp}
			s.link(key, newItem)
		}
	}
	if code == "HD" && f.noReply {
		return true
	}
	out.WriteString(code)
	metaReturn(out, flags, func(t string) string {
		if t[0] == 'c' {
			if code != "HD" {
				return "c0"
			}
			return "c" + strconv.FormatUint(s.casOf(newItem), 10)
		}
		return opaqueOrKey(t, key)
	})
	out.WriteString("\r\n")
	return true
}

// metaHead checks the key and the number of tokens of md or ma, and
// parses its flags, of which it accepts those in allowed. On an error it
// writes memcached's error line to out and reports false.
func metaHead(toks []string, allowed string, out *bytes.Buffer) (key string, flags []string, f metaFlags, ok bool) {
	key = toks[1]
	if len(key) > maxKeyLength {
		out.WriteString(badFormat + "\r\n")
		return "", nil, f, false
	}
	if len(toks)+1 > maxMetaTokens {
		out.WriteString("CLIENT_ERROR options flags too long\r\n")
		return "", nil, f, false
	}
	flags = toks[2:]
	f, errstr := parseMetaFlags(flags, allowed)
	if errstr != "" {
		out.WriteString("CLIENT_ERROR invalid or duplicate flag\r\n")
		return "", nil, f, false
	}
	return key, flags, f, true
}

// metaDelete handles md.
func (s *Server) metaDelete(toks []string, out *bytes.Buffer) {
	key, flags, f, ok := metaHead(toks, "CkOq", out)
	if !ok {
		return
	}
	var line bytes.Buffer
	if !metaReturn(&line, flags, func(t string) string { return opaqueOrKey(t, key) }) {
		out.WriteString("CLIENT_ERROR opaque token too long\r\n")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	code := "HD"
	switch it := s.lookup(key, s.nowSec()); {
	case it == nil:
		s.st.deleteMisses++
		code = "NF"
	case f.hasCas && s.casOf(it) != f.cas:
		s.st.deleteMisses++
		code = "EX"
	default:
		s.st.deleteHits++
		delete(s.items, key)
		if f.noReply {
			return
		}
	}
	out.WriteString(code)
	out.Write(line.Bytes())
	out.WriteString("\r\n")
}

// metaArith handles ma: an increment (or decrement) of an item that holds
// a decimal number, which with N creates a missing item holding J. As in
// memcached, the return flags are handled in the order sent, after the
// arithmetic: T and N set the expiration there (so that t before T
// reports the old one), and an opaque token too long fails the command
// once it has taken effect. q hides the reply of an item found, and only
// that one.
func (s *Server) metaArith(toks []string, out *bytes.Buffer) {
	key, flags, f, ok := metaHead(toks, "cCDJkMNOqtTv", out)
	if !ok {
		return
	}
	delta := uint64(1)
	for _, t := range flags {
		if t[0] == 'D' {
			delta = f.delta
		}
	}
	incr := true
	switch f.mode {
	case 0, 'I', '+':
	case 'D', '-':
		incr = false
	default:
		out.WriteString("CLIENT_ERROR invalid mode for ma M token\r\n")
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	it := s.lookup(key, now)
	var (
		code    string
		created bool
		res     string // the new value, as a number
	)
	switch {
	case it == nil && f.vivify:
		res = strconv.FormatUint(f.initial, 10)
		it = &item{value: []byte(res)}
		s.link(key, it)
		created = true
	case it == nil:
		code = "NF"
	case f.hasCas && f.cas != 0 && s.casOf(it) != f.cas:
		code, it = "EX", nil
	default:
		v, ok := strtoull(string(it.value))
		if len(it.value) == 0 || !ok {
			out.WriteString("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
			return
		}
		switch {
		case incr:
			v += delta // wraps, as memcached's does
		case delta > v:
			v = 0
		default:
			v -= delta
		}
		res = strconv.FormatUint(v, 10)
		value := []byte(res)
		if len(value) < len(it.value) {
			// memcached rewrites the value in place, padded with spaces.
			value = append(value, bytes.Repeat([]byte{' '}, len(it.value)-len(value))...)
		}
		it = &item{value: value, flags: it.flags, exp: it.exp}
		s.link(key, it)
	}
	var line bytes.Buffer
	switch {
	case it == nil:
		line.WriteString(code)
	case f.value:
		line.WriteString("VA " + strconv.Itoa(len(res)))
	default:
		line.WriteString("HD")
	}
	for _, t := range flags {
		var v string
		switch t[0] {
		case 'O':
			if len(t) > maxOpaque {
				out.WriteString("CLIENT_ERROR opaque token too long\r\n")
				return
			}
			v = t
		case 'k':
			v = "k" + key
		}
		if it != nil {
			switch t[0] {
			case 'c':
				v = "c" + strconv.FormatUint(s.casOf(it), 10)
			case 't':
				if it.exp == 0 {
					v = "t-1"
				} else {
					v = "t" + strconv.FormatInt(it.exp-now, 10)
				}
			case 'T':
				it.exp = s.expiry(f.exptime, now)
			case 'N':
				if created {
					it.exp = s.expiry(f.vivifyExptime, now)
				}
			}
		}
		if v != "" {
			line.WriteString(" " + v)
		}
	}
	if it != nil && !created && f.noReply {
		return
	}
	out.Write(line.Bytes())
	out.WriteString("\r\n")
	if it != nil && f.value {
		out.WriteString(res + "\r\n")
	}
}
