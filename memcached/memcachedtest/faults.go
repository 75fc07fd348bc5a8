package memcachedtest

import (
	"bufio"
	"bytes"
	"io"
	"net"
)

// This file holds the faults that tests inject: on the whole server, a
// restart or a stall; by command verb, a reply dropped or late, a request
// lost or landing late.

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
	s.casSeq = 0
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

// DropNextReply makes the next command with the given verb (such as "add",
// "cas", "gets" or "ms") take effect as usual, but closes its connection
// instead of writing the reply. Each call affects one more command: the
// faults registered for one verb, of any kind, apply to its next commands in
// the order they were registered.
func (s *Server) DropNextReply(verb string) { s.LateReply(verb, nil) }

// LateReply is DropNextReply for a reply that comes too late: after the
// command takes effect, meanwhile runs (a test moves its clock there, by the
// time the reply takes), and then the connection closes as the client,
// which gave up waiting, sees it. A nil meanwhile does nothing.
func (s *Server) LateReply(verb string, meanwhile func()) {
	s.addFault(verb, fault{kind: dropFault, meanwhile: meanwhile})
}

// FailNext makes the next command with the given verb close its connection
// without taking effect, as if the request had been lost. Each call affects
// one more command.
func (s *Server) FailNext(verb string) { s.addFault(verb, fault{kind: failFault}) }

// LandLate makes the next command with the given verb lose its connection
// before taking effect, and take effect later, just before the next command
// with the same verb: a request delayed in the network past the client's
// timeout, and past the read its retry starts with. Each call affects one
// more command.
func (s *Server) LandLate(verb string) { s.addFault(verb, fault{kind: lateFault}) }

// fault is the fault injected into one command.
type fault struct {
	kind      faultKind
	meanwhile func() // of a dropped reply: what to run before dropping it
}

type faultKind int

const (
	noFault faultKind = iota
	dropFault
	failFault
	lateFault
)

// lateCmd is a command held back by LandLate.
type lateCmd struct {
	toks []string
	data []byte
}

// Faults returns how many of the faults injected for verb (by FailNext,
// DropNextReply, LateReply or LandLate) no command has met yet: a test
// counts from it the commands of that verb sent meanwhile.
func (s *Server) Faults(verb string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults[verb])
}

func (s *Server) addFault(verb string, f fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[verb] = append(s.faults[verb], f)
}

// takeFault claims the next fault, if any, registered for verb.
func (s *Server) takeFault(verb string) fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[verb]
	if len(q) == 0 {
		return fault{}
	}
	s.faults[verb] = q[1:]
	return q[0]
}

// hold keeps a command, with its data block, for runLate.
func (s *Server) hold(toks []string, r *bufio.Reader) {
	var data []byte
	if n, ok := dataLen(toks); ok {
		data = make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return
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

// dataLen returns the length of the data block that follows a well-formed
// storage command (add, cas or ms).
func dataLen(toks []string) (int32, bool) {
	var field string
	switch {
	case len(toks) >= 5 && (toks[0] == "add" || toks[0] == "cas"):
		field = toks[4]
	case len(toks) >= 3 && toks[0] == "ms":
		field = toks[2]
	default:
		return 0, false
	}
	n, ok := strtol32(field)
	return n, ok && n >= 0 && n <= itemSizeMax
}

// discardData consumes the data block of a well-formed storage command so
// that a lost request, or one a stalled server ignores, leaves no unread
// bytes behind.
func discardData(r *bufio.Reader, toks []string) {
	if n, ok := dataLen(toks); ok {
		io.CopyN(io.Discard, r, int64(n)+2)
	}
}
