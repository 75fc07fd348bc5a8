// Package memcachedfake is an in-process fake memcached server for tests.
//
// It speaks the classic memcached text protocol on a loopback TCP port and
// follows the observable behaviour of memcached 1.6: the storage commands
// (set, add, replace, append, prepend, cas), the retrieval commands (get,
// gets, gat, gats), delete, touch, incr, decr, flush_all, stats, version,
// verbosity and quit, the noreply option, the error lines for malformed
// requests, and memcached's whole-second clock for expiration times.
//
// Expired and flushed items are removed lazily, when a command or Keys
// touches them. There is no memory limit, no LRU eviction and no support for
// the meta commands or the binary protocol.
package memcachedfake

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// version is reported by the version command and by stats.
	version = "1.6.18-fake"

	// maxKeyLength is memcached's KEY_MAX_LENGTH.
	maxKeyLength = 250

	// maxRelativeExptime is memcached's REALTIME_MAXDELTA: larger expiration
	// times are absolute Unix times.
	maxRelativeExptime = 60 * 60 * 24 * 30

	// itemSizeMax is memcached's default item size limit (-I 1m).
	itemSizeMax = 1 << 20

	// itemHeaderSize is the size of memcached's item header on a 64-bit
	// build, plus the 8-byte CAS field.
	itemHeaderSize = 48 + 8

	// maxLine is the longest command line accepted for commands other than
	// get and gets; longer lines close the connection.
	maxLine = 8 << 10

	// maxGetLine is the longest get or gets command line accepted.
	maxGetLine = 1 << 20
)

// expiredAlready is an expiration second that is always in the past.
const expiredAlready = math.MinInt64

// Options configures a Server.
type Options struct {
	// Now is the server's clock. Nil means time.Now. Like memcached, the
	// server only looks at the whole seconds of the time it returns.
	Now func() time.Time

	// TLS, when not nil, makes the server speak TLS on its port.
	TLS *tls.Config

	// NoCAS makes the server behave as memcached -C: gets reports cas id 0,
	// and every cas of an existing item fails with EXISTS.
	NoCAS bool
}

// Server is a fake memcached speaking the classic text protocol on a loopback
// TCP port.
type Server struct {
	ln       net.Listener
	now      func() time.Time
	tls      *tls.Config
	noCAS    bool
	startSec int64
	wg       sync.WaitGroup

	mu         sync.Mutex
	items      map[string]*item
	casSeq     uint64
	oldestLive int64 // flush_all horizon in Unix seconds; 0 means none
	oldestCas  uint64
	conns      map[net.Conn]struct{}
	closed     bool
	totalConns int
	dropReply  map[string][]func() // per verb, a queue of faults: what to run before dropping
	failNext   map[string]int
	landLate   map[string]int
	late       map[string][]lateCmd // per verb, held commands to run before the next one
	st         counters
}

// lateCmd is a command held back by LandLate.
type lateCmd struct {
	toks []string
	data []byte
}

// item is a stored value. Its value slice is never modified in place.
type item struct {
	value []byte
	flags uint32
	exp   int64 // Unix second at which the item expires; 0 means never
	cas   uint64
	time  int64 // Unix second of the last store, for flush_all
}

// counters are the command statistics reported by stats.
type counters struct {
	cmdGet, cmdSet, cmdFlush, cmdTouch uint64
	getHits, getMisses                 uint64
	deleteHits, deleteMisses           uint64
	incrHits, incrMisses               uint64
	decrHits, decrMisses               uint64
	casHits, casMisses, casBadval      uint64
	touchHits, touchMisses, totalItems uint64
}

// Start starts a Server listening on 127.0.0.1 with a port chosen by the
// system. A nil opts is the same as a zero Options.
func Start(opts *Options) (*Server, error) {
	if opts == nil {
		opts = &Options{}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		ln:        ln,
		now:       now,
		tls:       opts.TLS,
		noCAS:     opts.NoCAS,
		startSec:  now().Unix(),
		items:     make(map[string]*item),
		conns:     make(map[net.Conn]struct{}),
		dropReply: make(map[string][]func()),
		failNext:  make(map[string]int),
		landLate:  make(map[string]int),
		late:      make(map[string][]lateCmd),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string {
	return s.ln.Addr().String()
}

// Close stops the listener, closes every connection and waits until all of
// the server's goroutines have returned. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	err := s.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	return err
}

// Keys returns the keys of the live (unexpired, unflushed) items, sorted.
func (s *Server) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	keys := make([]string, 0, len(s.items))
	for k, it := range s.items {
		if s.dead(it, now) {
			delete(s.items, k)
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TotalConnections returns the number of connections accepted so far.
func (s *Server) TotalConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totalConns
}

// DropNextReply makes the next command with the given verb (such as "add",
// "cas" or "gets") take effect as usual, but closes its connection instead of
// writing the reply. Each call affects one more command.
func (s *Server) DropNextReply(verb string) { s.LateReply(verb, nil) }

// LateReply is DropNextReply for a reply that comes too late: after the
// command takes effect, meanwhile runs (a test moves its clock there, by the
// time the reply takes), and then the connection closes as the client,
// which gave up waiting, sees it. A nil meanwhile does nothing.
func (s *Server) LateReply(verb string, meanwhile func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropReply[verb] = append(s.dropReply[verb], meanwhile)
}

// FailNext makes the next command with the given verb close its connection
// without taking effect, as if the request had been lost. Each call affects
// one more command.
func (s *Server) FailNext(verb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[verb]++
}

// LandLate makes the next command with the given verb lose its connection
// before taking effect, and take effect later, just before the next command
// with the same verb: a request delayed in the network past the client's
// timeout, and past the read its retry starts with. Each call affects one
// more command.
func (s *Server) LandLate(verb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.landLate[verb]++
}

// acceptLoop accepts connections until the listener is closed.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.totalConns++
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// fault is the fault injected into one command.
type fault int

const (
	noFault fault = iota
	dropFault
	failFault
	lateFault
)

// takeFault claims the fault, if any, registered for verb, and for a
// dropped reply what to run before dropping it.
func (s *Server) takeFault(verb string) (fault, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext[verb] > 0 {
		s.failNext[verb]--
		return failFault, nil
	}
	if s.landLate[verb] > 0 {
		s.landLate[verb]--
		return lateFault, nil
	}
	if q := s.dropReply[verb]; len(q) > 0 {
		s.dropReply[verb] = q[1:]
		return dropFault, q[0]
	}
	return noFault, nil
}

// errLineTooLong ends a connection that sends an overlong command line.
var errLineTooLong = errors.New("memcachedfake: command line too long")

// serve runs the command loop of one connection.
func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	var c net.Conn = raw
	if s.tls != nil {
		c = tls.Server(raw, s.tls)
	}
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()

	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	var out bytes.Buffer
	for {
		line, err := readLine(r)
		if err != nil {
			w.Flush()
			return
		}
		toks := tokenize(line)
		var (
			f         fault
			meanwhile func()
		)
		if len(toks) > 0 {
			f, meanwhile = s.takeFault(toks[0])
		}
		switch f {
		case failFault:
			discardData(r, toks)
			w.Flush()
			return
		case lateFault:
			s.hold(toks, r)
			w.Flush()
			return
		}
		if len(toks) > 0 {
			s.runLate(toks[0])
		}
		out.Reset()
		keep := s.handle(toks, r, &out)
		if f == dropFault {
			if meanwhile != nil {
				meanwhile()
			}
			w.Flush()
			return
		}
		if _, err := w.Write(out.Bytes()); err != nil {
			return
		}
		if !keep {
			w.Flush()
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// hold keeps a command, with its data block, for runLate.
func (s *Server) hold(toks []string, r *bufio.Reader) {
	var data []byte
	if len(toks) >= 5 && isStorage(toks[0]) {
		if n, ok := strtol32(toks[4]); ok && n >= 0 && n <= itemSizeMax {
			data = make([]byte, n+2)
			if _, err := io.ReadFull(r, data); err != nil {
				return
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.late[toks[0]] = append(s.late[toks[0]], lateCmd{toks: toks, data: data})
}

// runLate runs the commands held for verb, discarding their replies.
func (s *Server) runLate(verb string) {
	s.mu.Lock()
	q := s.late[verb]
	delete(s.late, verb)
	s.mu.Unlock()
	var out bytes.Buffer
	for _, c := range q {
		s.handle(c.toks, bufio.NewReader(bytes.NewReader(c.data)), &out)
	}
}

// readLine reads one command line and strips its "\n" or "\r\n".
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		buf = append(buf, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return "", err
		}
		limit := maxLine
		trimmed := bytes.TrimLeft(buf, " ")
		if bytes.HasPrefix(trimmed, []byte("get ")) || bytes.HasPrefix(trimmed, []byte("gets ")) {
			limit = maxGetLine
		}
		if len(buf) > limit {
			return "", errLineTooLong
		}
	}
	buf = buf[:len(buf)-1]
	if n := len(buf); n > 0 && buf[n-1] == '\r' {
		buf = buf[:n-1]
	}
	return string(buf), nil
}

// tokenize splits a command line at spaces, as memcached does.
func tokenize(line string) []string {
	var toks []string
	for _, t := range strings.Split(line, " ") {
		if t != "" {
			toks = append(toks, t)
		}
	}
	return toks
}

// isStorage reports whether verb is followed by a data block.
func isStorage(verb string) bool {
	switch verb {
	case "set", "add", "replace", "append", "prepend", "cas":
		return true
	}
	return false
}

// discardData consumes the data block of a well-formed storage command so
// that a lost request does not leave unread bytes behind.
func discardData(r *bufio.Reader, toks []string) {
	if len(toks) < 5 || !isStorage(toks[0]) {
		return
	}
	if n, ok := strtol32(toks[4]); ok && n >= 0 && n <= itemSizeMax {
		io.CopyN(io.Discard, r, int64(n)+2)
	}
}

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
	case verb == "get" || verb == "gets" || verb == "gat" || verb == "gats":
		s.get(toks, out)
	case verb == "set" || verb == "add" || verb == "replace" || verb == "append" || verb == "prepend":
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
	case verb == "incr" || verb == "decr":
		if ntok != 3 && ntok != 4 {
			out.WriteString("ERROR\r\n")
			return true
		}
		s.arith(toks, out)
	case verb == "delete":
		if ntok < 2 || ntok > 4 {
			out.WriteString("ERROR\r\n")
			return true
		}
		s.delete(toks, out)
	case verb == "touch":
		if ntok != 3 && ntok != 4 {
			out.WriteString("ERROR\r\n")
			return true
		}
		s.touch(toks, out)
	case verb == "stats":
		s.stats(toks, out)
	case strings.HasPrefix(toks[ntok-1], "HTTP/"):
		// memcached hangs up on what looks like an HTTP request.
		return false
	case verb == "flush_all":
		if ntok > 3 {
			out.WriteString("ERROR\r\n")
			return true
		}
		s.flushAll(toks, out)
	case verb == "version":
		out.WriteString("VERSION " + version + "\r\n")
	case verb == "verbosity":
		if ntok != 2 && ntok != 3 {
			out.WriteString("ERROR\r\n")
			return true
		}
		reply(out, hasNoreply(toks), "OK")
	case verb == "quit":
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

// badFormat is memcached's reply to a malformed command line.
const badFormat = "CLIENT_ERROR bad command line format"

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

// stats handles stats and stats reset; other statistics groups are not
// supported.
func (s *Server) stats(toks []string, out *bytes.Buffer) {
	if len(toks) > 1 {
		if toks[1] == "reset" && len(toks) == 2 {
			s.mu.Lock()
			s.st = counters{}
			s.mu.Unlock()
			out.WriteString("RESET\r\n")
			return
		}
		out.WriteString("ERROR\r\n")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowSec()
	curr := 0
	for k, it := range s.items {
		if s.dead(it, now) {
			delete(s.items, k)
			continue
		}
		curr++
	}
	st := s.st
	stat := func(name string, v any) {
		out.WriteString("STAT " + name + " ")
		switch v := v.(type) {
		case string:
			out.WriteString(v)
		case int:
			out.WriteString(strconv.Itoa(v))
		case int64:
			out.WriteString(strconv.FormatInt(v, 10))
		case uint64:
			out.WriteString(strconv.FormatUint(v, 10))
		}
		out.WriteString("\r\n")
	}
	stat("pid", os.Getpid())
	stat("uptime", now-s.startSec)
	stat("time", now)
	stat("version", version)
	stat("pointer_size", 64)
	stat("curr_connections", len(s.conns))
	stat("total_connections", s.totalConns)
	stat("cmd_get", st.cmdGet)
	stat("cmd_set", st.cmdSet)
	stat("cmd_flush", st.cmdFlush)
	stat("cmd_touch", st.cmdTouch)
	stat("get_hits", st.getHits)
	stat("get_misses", st.getMisses)
	stat("delete_misses", st.deleteMisses)
	stat("delete_hits", st.deleteHits)
	stat("incr_misses", st.incrMisses)
	stat("incr_hits", st.incrHits)
	stat("decr_misses", st.decrMisses)
	stat("decr_hits", st.decrHits)
	stat("cas_misses", st.casMisses)
	stat("cas_hits", st.casHits)
	stat("cas_badval", st.casBadval)
	stat("touch_hits", st.touchHits)
	stat("touch_misses", st.touchMisses)
	stat("limit_maxbytes", 64<<20)
	stat("threads", 1)
	stat("curr_items", curr)
	stat("total_items", st.totalItems)
	stat("evictions", 0)
	out.WriteString("END\r\n")
}

// cNumber scans s the way C's strtol family does: optional leading white
// space, an optional sign and decimal digits, which must be followed by the
// end of s or by white space. It returns the sign, the magnitude (saturated
// on overflow) and whether s was acceptable.
func cNumber(s string) (neg bool, mag uint64, overflow, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if mag > (math.MaxUint64-d)/10 {
			overflow = true
			mag = math.MaxUint64
		} else if !overflow {
			mag = mag*10 + d
		}
		i++
	}
	if i == start {
		return false, 0, false, false
	}
	if i < len(s) && !isSpace(s[i]) {
		return false, 0, false, false
	}
	return neg, mag, overflow, true
}

// isSpace reports whether c is white space for C's isspace.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// strtol32 mirrors memcached's safe_strtol: a 64-bit strtol whose result is
// truncated to 32 bits.
func strtol32(s string) (int32, bool) {
	neg, mag, overflow, ok := cNumber(s)
	if !ok || overflow {
		return 0, false
	}
	var v int64
	if neg {
		if mag > 1<<63 {
			return 0, false
		}
		v = -int64(mag)
	} else {
		if mag > math.MaxInt64 {
			return 0, false
		}
		v = int64(mag)
	}
	return int32(v), true
}

// strtoull mirrors memcached's safe_strtoull: negative input is refused
// only when the wrapped result looks negative as a signed number.
func strtoull(s string) (uint64, bool) {
	neg, mag, overflow, ok := cNumber(s)
	if !ok || overflow {
		return 0, false
	}
	v := mag
	if neg {
		v = -mag
	}
	if int64(v) < 0 && strings.Contains(s, "-") {
		return 0, false
	}
	return v, true
}

// strtoul32 mirrors memcached's safe_strtoul into a 32-bit flags field.
func strtoul32(s string) (uint32, bool) {
	v, ok := strtoull(s)
	return uint32(v), ok
}
