// Package memcachedfake is an in-process fake memcached server for tests.
//
// It listens on a loopback TCP port and follows the observable behaviour of
// memcached 1.6, checked against a real server by the package's tests when
// LOCK_TEST_MEMCACHED_URL is set:
//
//   - the classic text protocol: the storage commands (set, add, replace,
//     append, prepend, cas), the retrieval commands (get, gets, gat, gats),
//     delete, touch, incr, decr, flush_all, stats, version, verbosity and
//     quit, the noreply option and the error lines for malformed requests
//     (text.go);
//   - the meta commands mg, ms, md and mn, with the flags listed in meta.go;
//   - memcached's whole-second clock for expiration times (items.go).
//
// Tests inject faults by command verb (faults.go): a reply dropped or late,
// a request lost or landing late. Restart and Stall act on the whole
// server: a restarted process, a hung one.
//
// Expired and flushed items are removed lazily, when a command or Keys
// touches them. There is no memory limit, no LRU eviction, no binary
// protocol, and the meta commands' flags that need more than an item's
// value, flags, expiration and cas id (stale items, recache wins, base64
// keys) are not emulated.
package memcachedfake

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"math"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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

// Server is a fake memcached on a loopback TCP port.
type Server struct {
	ln    net.Listener
	now   func() time.Time
	tls   *tls.Config
	noCAS bool
	wg    sync.WaitGroup

	mu         sync.Mutex
	startSec   int64 // when the process started, in Unix seconds
	pid        int   // the process's number in stats: new at each Restart
	stalled    bool  // commands are read and never answered
	items      map[string]*item
	casSeq     uint64
	oldestLive int64 // flush_all horizon in Unix seconds; 0 means none
	oldestCas  uint64
	conns      map[net.Conn]struct{}
	closed     bool
	totalConns int
	faults     map[string][]fault   // per verb, the faults of its next commands
	late       map[string][]lateCmd // per verb, held commands to run before the next one
	st         counters
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
		ln:       ln,
		now:      now,
		tls:      opts.TLS,
		noCAS:    opts.NoCAS,
		startSec: now().Unix(),
		pid:      int(pids.Add(1)),
		items:    make(map[string]*item),
		conns:    make(map[net.Conn]struct{}),
		faults:   make(map[string][]fault),
		late:     make(map[string][]lateCmd),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// pids numbers the fake server processes, for the pid of stats.
var pids atomic.Int32

// Restart makes the server behave as a memcached process that was
// restarted: every connection is closed, every item (and every command held
// by LandLate) is lost, cas ids are numbered from 1 again, and stats
// report a new pid and start time. The listener stays, so clients can
// connect again at once.
func (s *Server) Restart() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.items = make(map[string]*item)
	s.late = make(map[string][]lateCmd)
	s.casSeq, s.oldestLive, s.oldestCas = 0, 0, 0
	s.startSec = s.nowSec()
	s.pid = int(pids.Add(1))
	s.st = counters{}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Stall makes the server read every command, on its connections and on
// new ones, and answer none, as a process that hangs or a network that
// drops every reply: clients see their requests sent and wait for their
// timeouts. Resume ends it.
func (s *Server) Stall() {
	s.mu.Lock()
	s.stalled = true
	s.mu.Unlock()
}

// Resume makes a stalled server answer the commands it reads from now on.
func (s *Server) Resume() {
	s.mu.Lock()
	s.stalled = false
	s.mu.Unlock()
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
		s.mu.Lock()
		stalled := s.stalled
		s.mu.Unlock()
		if stalled {
			discardData(r, toks)
			continue
		}
		var f fault
		if len(toks) > 0 {
			f = s.takeFault(toks[0])
		}
		switch f.kind {
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
		if f.kind == dropFault {
			if f.meanwhile != nil {
				f.meanwhile()
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
	case verb == "mg" || verb == "ms" || verb == "md":
		if ntok < 2 {
			out.WriteString("ERROR\r\n")
			return true
		}
		switch verb {
		case "mg":
			s.metaGet(toks, out)
		case "ms":
			return s.metaSet(toks, r, out)
		default:
			s.metaDelete(toks, out)
		}
	case verb == "mn":
		out.WriteString("MN\r\n")
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
