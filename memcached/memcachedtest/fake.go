// Package memcachedtest is an in-process fake memcached server for tests,
// as net/http/httptest is for HTTP: tests of a program that locks with the
// memcached backend run without a server. Start one, point the backend at
// its Addr (memcached://ADDR, or a gomemcache client), Close it at the end.
//
// It listens on a loopback TCP port and follows the observable behaviour of
// memcached 1.6 for the commands that the memcached backend and its tests
// send, checked against a real server by the package's tests when
// LOCK_TEST_MEMCACHED_URL is set:
//
//   - the classic commands add, cas, gets, delete and stats, with the
//     noreply option and the error lines for malformed requests (text.go,
//     stats.go);
//   - the meta commands mg, ms, md, ma and mn, with the flags listed in
//     meta.go;
//   - memcached's whole-second clock for expiration times (items.go).
//
// Every other command, even one that memcached knows (get, set, touch,
// incr, flush_all, version, ...), is answered "ERROR", as memcached answers
// a command it does not know.
//
// Tests inject faults (faults.go): by command verb, a reply dropped or
// late, a request lost or landing late; on the whole server, a restarted
// process, a hung one.
//
// Expired items are removed lazily, when a command or Keys touches them.
// There is no memory limit, no LRU eviction, no binary protocol, and the
// meta commands' flags that need more than an item's value, flags,
// expiration and cas id (stale items, recache wins, base64 keys) are not
// emulated.
package memcachedtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the server and its connections: starting and closing
// them, reading command lines and writing the replies.

const (
	// maxLine is the longest command line accepted for commands other than
	// gets; longer lines close the connection.
	maxLine = 8 << 10

	// maxGetLine is the longest gets command line accepted.
	maxGetLine = 1 << 20
)

// Options configures a Server.
type Options struct {
	// Now is the server's clock. Nil means time.Now. Like memcached, the
	// server only looks at the whole seconds of the time it returns.
	Now func() time.Time

	// TLS, when not nil, makes the server speak TLS on its port.
	TLS *tls.Config

	// NoCAS makes the server behave as memcached -C: it reports cas id 0
	// for every item, and a cas, or an ms with a cas id, of an existing
	// item fails with EXISTS (EX).
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
var errLineTooLong = errors.New("memcachedtest: command line too long")

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
		if bytes.HasPrefix(trimmed, []byte("gets ")) {
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
