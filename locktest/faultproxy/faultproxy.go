// Package faultproxy is a TCP proxy that injects network faults between
// clients and a server, for tests and for the stress example: slow replies,
// a black hole, reset connections, replies cut short, and a server that is
// down. It knows nothing of the protocol it carries.
//
// A Proxy is in one mode at a time, set by Pass, Latency, BlackHole, Reset
// and CutReply, at any time; a new mode applies at once to the connections
// already open as well as to new ones. Down and Up stop and restart the
// listener, independently of the mode. A Proxy is safe for concurrent use.
package faultproxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

type mode int

const (
	pass mode = iota
	latency
	blackHole
	reset
	cut
)

// A Proxy forwards the connections made to Addr to its upstream, one
// upstream connection for each.
type Proxy struct {
	upstream string
	addr     string // kept across Down and Up

	mu       sync.Mutex
	ln       net.Listener // nil while down
	mode     mode
	delay    time.Duration // in latency mode
	cutAfter int           // in cut mode: the reply bytes each connection forwards
	cutOnce  bool          // in cut mode: back to pass after the first cut
	cutThen  func()        // in cut mode, once: run at the cut, before the client sees it
	links    map[*link]struct{}
	changed  chan struct{} // closed and replaced at each change of mode
	closed   bool
	wg       sync.WaitGroup

	accepted, resets, cuts             atomic.Int64
	sent, received, delivered, dropped atomic.Int64
}

// link is one client connection and its upstream connection.
type link struct {
	client, server net.Conn // server is nil until dialled
	budget         int      // in cut mode: reply bytes left to forward; under Proxy.mu
	once           sync.Once
}

// Start listens on a free loopback port and forwards what it accepts to
// upstream (host:port), in pass mode.
func Start(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		upstream: upstream,
		addr:     ln.Addr().String(),
		links:    make(map[*link]struct{}),
		changed:  make(chan struct{}),
	}
	p.listen(ln)
	return p, nil
}

// Addr returns the address the proxy listens on, host:port. It stays the
// same across Down and Up.
func (p *Proxy) Addr() string { return p.addr }

// Pass forwards everything as it comes: the mode that heals the others.
func (p *Proxy) Pass() { p.setMode(pass, nil) }

// Latency delays every reply by d: bytes from the upstream reach their
// client d after the proxy read them. Requests go through at once, so a
// request takes effect on the server and its answer comes late, as when
// a server or the way back is slow. Replies held when the mode changes
// are delivered as the new mode says.
func (p *Proxy) Latency(d time.Duration) { p.setMode(latency, func() { p.delay = d }) }

// BlackHole accepts connections and reads requests, and never forwards or
// answers anything: requests and replies are dropped, in both directions,
// as on a network path that loses every packet.
func (p *Proxy) BlackHole() { p.setMode(blackHole, nil) }

// Reset closes every open connection with a TCP reset, and resets the new
// ones as soon as they are accepted, until the mode changes.
func (p *Proxy) Reset() {
	p.setMode(reset, func() {
		for l := range p.links {
			p.abortLocked(l)
		}
	})
}

// CutReply lets each connection forward n more reply bytes, then closes it
// (with a FIN, not a reset) and drops the rest: a request sent afterwards
// takes effect on the server, and its reply is lost or truncated. It lasts
// until the mode changes; new connections get n bytes each too.
func (p *Proxy) CutReply(n int) { p.setCut(n, false, nil) }

// CutNextReply is CutReply for one connection only: the first connection
// cut puts the proxy back in pass mode.
func (p *Proxy) CutNextReply(n int) { p.setCut(n, true, nil) }

// CutNextReplyThen is CutNextReply that runs meanwhile at the cut: once the
// reply to cut has come from the server, so that its request has taken
// effect, and before the client sees its connection close. A test lets
// another client act there, between a command landing and its sender's
// retry. meanwhile runs on the proxy's goroutine, and must not wait for
// the client of the connection being cut.
func (p *Proxy) CutNextReplyThen(n int, meanwhile func()) { p.setCut(n, true, meanwhile) }

func (p *Proxy) setCut(n int, once bool, then func()) {
	p.setMode(cut, func() {
		p.cutAfter, p.cutOnce, p.cutThen = max(n, 0), once, then
		for l := range p.links {
			l.budget = p.cutAfter
		}
	})
}

// setMode switches to m, running f under the lock, and wakes the replies
// held by the previous mode.
func (p *Proxy) setMode(m mode, f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	if f != nil {
		f()
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// Down stops listening, so that new connections are refused, and resets
// every open connection, as a server that went down does. The mode is
// kept.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for l := range p.links {
		p.abortLocked(l)
	}
}

// Up listens again, on the same address, after Down. It is a no-op while
// the proxy listens.
func (p *Proxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	if p.ln != nil {
		return nil
	}
	var err error
	for try := 0; try < 50; try++ { // the port is ours, but its release may lag
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.listenLocked(ln)
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// Close stops the proxy: it closes the listener and every connection, and
// waits for its goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for l := range p.links {
		l.close(false)
		delete(p.links, l)
	}
	close(p.changed) // wakes the replies held by Latency
	p.changed = make(chan struct{})
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// Stats counts what a Proxy did since it started.
type Stats struct {
	Accepted  int64 // connections accepted
	Resets    int64 // connections closed with a reset: by Reset, by Down, or accepted in reset mode
	Cuts      int64 // connections closed by CutReply or CutNextReply
	Sent      int64 // request bytes forwarded to the upstream
	Received  int64 // reply bytes read from the upstream
	Delivered int64 // reply bytes forwarded to clients
	Dropped   int64 // bytes dropped by a black hole or a cut, in either direction
	Open      int   // connections open now
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	open := len(p.links)
	p.mu.Unlock()
	return Stats{
		Accepted:  p.accepted.Load(),
		Resets:    p.resets.Load(),
		Cuts:      p.cuts.Load(),
		Sent:      p.sent.Load(),
		Received:  p.received.Load(),
		Delivered: p.delivered.Load(),
		Dropped:   p.dropped.Load(),
		Open:      open,
	}
}

func (p *Proxy) listen(ln net.Listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listenLocked(ln)
}

func (p *Proxy) listenLocked(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
}

// accept serves ln until it is closed.
func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		l := &link{client: c}
		p.mu.Lock()
		switch {
		case p.closed || p.ln != ln:
			abort(c)
		case p.mode == reset:
			p.resets.Add(1)
			abort(c)
		default:
			p.links[l] = struct{}{}
			l.budget = p.cutAfter
			p.wg.Add(1)
			go p.serve(l)
		}
		p.mu.Unlock()
	}
}

// serve dials the upstream for l and forwards both ways until either side
// closes.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	p.mu.Lock()
	_, live := p.links[l]
	if err != nil || !live {
		if server != nil {
			server.Close()
		}
		p.abortLocked(l) // a proxy whose upstream is gone resets
		p.mu.Unlock()
		return
	}
	l.server = server
	p.mu.Unlock()

	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.forwardRequests(l)
	}()
	p.forwardReplies(l)
}

// forwardRequests copies from the client to the server.
func (p *Proxy) forwardRequests(l *link) {
	defer p.drop(l)
	buf := make([]byte, 32<<10)
	for {
		n, err := l.client.Read(buf)
		if n > 0 {
			if p.current() == blackHole {
				p.dropped.Add(int64(n))
			} else if _, werr := l.server.Write(buf[:n]); werr != nil {
				return
			} else {
				p.sent.Add(int64(n))
			}
		}
		if err != nil {
			return
		}
	}
}

// forwardReplies copies from the server to the client, as the mode says.
func (p *Proxy) forwardReplies(l *link) {
	defer p.drop(l)
	buf := make([]byte, 32<<10)
	for {
		n, err := l.server.Read(buf)
		if n > 0 {
			p.received.Add(int64(n))
			if !p.deliver(l, buf[:n], time.Now()) {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// deliver forwards b, read from the server at, to the client, and reports
// whether the link lives on.
func (p *Proxy) deliver(l *link, b []byte, at time.Time) bool {
	for {
		p.mu.Lock()
		m, delay, changed := p.mode, p.delay, p.changed
		if p.closed {
			p.mu.Unlock()
			return false
		}
		switch m {
		case blackHole:
			p.mu.Unlock()
			p.dropped.Add(int64(len(b)))
			return true
		case latency:
			p.mu.Unlock()
			if wait := time.Until(at.Add(delay)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-changed:
					t.Stop()
				}
				continue // the mode may have changed meanwhile
			}
		case cut:
			k := min(len(b), l.budget)
			l.budget -= k
			spent := l.budget == 0
			var then func()
			if spent && p.cutOnce {
				then, p.cutThen = p.cutThen, nil
				p.mode = pass
				close(p.changed)
				p.changed = make(chan struct{})
			}
			p.mu.Unlock()
			var werr error
			if k > 0 {
				werr = p.write(l, b[:k])
			}
			if spent {
				if then != nil {
					then()
				}
				p.dropped.Add(int64(len(b) - k))
				p.cuts.Add(1)
				return false // drop closes the link, with a FIN
			}
			return werr == nil
		default:
			p.mu.Unlock()
		}
		return p.write(l, b) == nil
	}
}

func (p *Proxy) write(l *link, b []byte) error {
	_, err := l.client.Write(b)
	if err == nil {
		p.delivered.Add(int64(len(b)))
	}
	return err
}

func (p *Proxy) current() mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// drop closes l, with a FIN, and forgets it.
func (p *Proxy) drop(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	l.close(false)
}

// abortLocked closes l with a reset and forgets it; the caller holds p.mu.
func (p *Proxy) abortLocked(l *link) {
	if _, ok := p.links[l]; ok {
		p.resets.Add(1)
		delete(p.links, l)
	}
	l.close(true)
}

// close closes both ends of l, once; with rst, as a TCP reset.
func (l *link) close(rst bool) {
	l.once.Do(func() {
		if rst {
			abort(l.client)
			if l.server != nil {
				abort(l.server)
			}
			return
		}
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
	})
}

// abort closes c with a TCP reset rather than a FIN.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
