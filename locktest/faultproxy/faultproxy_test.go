package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/distlock/lock/internal/testnet"
)

// TestMain fails the package if a goroutine outlives the tests: a proxy or
// a connection not closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoServer answers each line "x" with "reply x\n", and records the lines
// it received.
type echoServer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	lines []string
	conns map[net.Conn]bool
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, conns: make(map[net.Conn]bool)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go s.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *echoServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		s.mu.Lock()
		s.lines = append(s.lines, strings.TrimSpace(line))
		s.mu.Unlock()
		if _, err := io.WriteString(c, "reply "+line); err != nil {
			return
		}
	}
}

// received returns the lines the server received.
func (s *echoServer) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func start(t *testing.T) (*echoServer, *Proxy) {
	t.Helper()
	s := startEcho(t)
	p, err := Start(s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return s, p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("dial %s: %v", p.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ask sends "line\n" on c and reads the reply, waiting at most wait.
func ask(c net.Conn, line string, wait time.Duration) (string, error) {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	defer c.SetReadDeadline(time.Time{})
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), err
		}
		if buf[0] == '\n' {
			return b.String(), nil
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestPass(t *testing.T) {
	_, p := start(t)
	c := dial(t, p)
	for _, line := range []string{"a", "b"} {
		if got, err := ask(c, line, 5*time.Second); err != nil || got != "reply "+line+"\n" {
			t.Fatalf("ask(%q) = %q, %v; want %q", line, got, err, "reply "+line+"\n")
		}
	}
	// The proxy counts a reply once its write returns, which may be after
	// the client read it.
	want := func(st Stats) bool {
		return st.Accepted == 1 && st.Sent == 4 && st.Received == 16 && st.Delivered == 16 && st.Open == 1
	}
	if st := settled(p, want); !want(st) {
		t.Errorf("Stats() = %+v; want 1 accepted, 4 bytes sent, 16 received and delivered, 1 open", st)
	}
}

// settled returns p's counters once ok accepts them, or after a second.
func settled(p *Proxy, ok func(Stats) bool) Stats {
	give := time.Now().Add(time.Second)
	for {
		st := p.Stats()
		if ok(st) || time.Now().After(give) {
			return st
		}
		time.Sleep(time.Millisecond) // polling counters: no event to wait on
	}
}

func TestLatency(t *testing.T) {
	s, p := start(t)
	c := dial(t, p)
	const d = 150 * time.Millisecond
	p.Latency(d)
	begin := time.Now()
	if got, err := ask(c, "slow", 5*time.Second); err != nil || got != "reply slow\n" {
		t.Fatalf("ask = %q, %v; want the reply", got, err)
	}
	if took := time.Since(begin); took < d {
		t.Errorf("reply took %v; want at least %v", took, d)
	}

	// A reply held when the mode changes goes out at once.
	p.Latency(time.Hour)
	go func() {
		for p.Stats().Received < int64(2*len("reply slow\n")) {
			time.Sleep(time.Millisecond) // polling a counter: no event to wait on
		}
		p.Pass()
	}()
	begin = time.Now()
	if got, err := ask(c, "held", 5*time.Second); err != nil || got != "reply held\n" {
		t.Fatalf("ask after Pass = %q, %v; want the reply", got, err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("held reply took %v after Pass; want it at once", took)
	}
	if got := s.received(); len(got) != 2 {
		t.Errorf("server received %q; want 2 lines", got)
	}
}

func TestBlackHole(t *testing.T) {
	s, p := start(t)
	c := dial(t, p)
	if _, err := ask(c, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.BlackHole()
	if got, err := ask(c, "lost", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("ask in a black hole = %q, %v; want a timeout", got, err)
	}
	c2 := dial(t, p) // accepted, and never answered
	if got, err := ask(c2, "lost too", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("ask on a new connection in a black hole = %q, %v; want a timeout", got, err)
	}
	if got := s.received(); len(got) != 1 {
		t.Errorf("server received %q; want only the line sent before the black hole", got)
	}
	p.Pass()
	if got, err := ask(c, "after", 5*time.Second); err != nil || got != "reply after\n" {
		t.Errorf("ask after Pass = %q, %v; want the reply", got, err)
	}
	if p.Stats().Dropped == 0 {
		t.Errorf("Stats().Dropped = 0; want the black-holed bytes")
	}
}

func TestReset(t *testing.T) {
	_, p := start(t)
	c := dial(t, p)
	if _, err := ask(c, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if got, err := ask(c, "x", 5*time.Second); !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Errorf("ask on a reset connection = %q, %v; want ECONNRESET", got, err)
	}
	// A new connection is accepted and reset at once, at times before
	// the dial returns.
	if c2, err := net.Dial("tcp", p.Addr()); err == nil {
		defer c2.Close()
		_, err = ask(c2, "y", 5*time.Second)
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("ask on a connection made in reset mode: %v; want ECONNRESET", err)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("dial in reset mode: %v; want ECONNRESET, from the dial or the first read", err)
	}
	p.Pass()
	c3 := dial(t, p)
	if got, err := ask(c3, "after", 5*time.Second); err != nil || got != "reply after\n" {
		t.Errorf("ask after Pass = %q, %v; want the reply", got, err)
	}
	if st := settled(p, func(st Stats) bool { return st.Resets == 2 }); st.Resets != 2 {
		t.Errorf("Stats().Resets = %d; want 2", st.Resets)
	}
}

func TestCutReply(t *testing.T) {
	s, p := start(t)
	c := dial(t, p)
	if _, err := ask(c, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.CutReply(3)
	if got, err := ask(c, "cut", 5*time.Second); got != "rep" || !errors.Is(err, io.EOF) {
		t.Errorf("ask with the reply cut after 3 bytes = %q, %v; want %q and EOF", got, err, "rep")
	}
	c2 := dial(t, p) // cut as well: the mode lasts
	if got, err := ask(c2, "cut too", 5*time.Second); got != "rep" || !errors.Is(err, io.EOF) {
		t.Errorf("ask on a new connection = %q, %v; want %q and EOF", got, err, "rep")
	}
	if got := s.received(); len(got) != 3 || got[1] != "cut" || got[2] != "cut too" {
		t.Errorf("server received %q; want the requests whose replies were cut", got)
	}

	p.CutNextReply(0)
	c3, c4 := dial(t, p), dial(t, p)
	if got, err := ask(c3, "once", 5*time.Second); got != "" || !errors.Is(err, io.EOF) {
		t.Errorf("ask with the next reply cut = %q, %v; want nothing and EOF", got, err)
	}
	if got, err := ask(c4, "next", 5*time.Second); err != nil || got != "reply next\n" {
		t.Errorf("ask after the one cut = %q, %v; want the reply", got, err)
	}
	if st := settled(p, func(st Stats) bool { return st.Cuts == 3 }); st.Cuts != 3 {
		t.Errorf("Stats().Cuts = %d; want 3", st.Cuts)
	}
}

// TestCutNextReplyThen: the function runs once, after the request whose
// reply is cut reached the server and before its client sees the cut; the
// proxy serves other connections meanwhile.
func TestCutNextReplyThen(t *testing.T) {
	s, p := start(t)
	c, other := dial(t, p), dial(t, p)
	var (
		mu     sync.Mutex
		events []string
		runs   int
	)
	note := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	p.CutNextReplyThen(2, func() {
		runs++
		note("then: server has " + strings.Join(s.received(), ","))
		if got, err := ask(other, "meanwhile", 5*time.Second); err != nil || got != "reply meanwhile\n" {
			note("then: ask on another connection = " + got + ", " + err.Error())
		}
	})
	got, err := ask(c, "cut", 5*time.Second)
	note("client: " + got)
	if !errors.Is(err, io.EOF) {
		t.Errorf("ask with the reply cut = %q, %v; want EOF", got, err)
	}
	if got, err := ask(c, "after", time.Second); err == nil {
		t.Errorf("ask on the cut connection = %q; want an error", got)
	}
	if got, err := ask(dial(t, p), "next", 5*time.Second); err != nil || got != "reply next\n" {
		t.Errorf("ask after the cut = %q, %v; want the reply: the cut is once", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"then: server has cut", "client: re"}
	if runs != 1 || strings.Join(events, "|") != strings.Join(want, "|") {
		t.Errorf("ran %d times, events %q; want once, %q", runs, events, want)
	}
}

func TestDownUp(t *testing.T) {
	_, p := start(t)
	c := dial(t, p)
	if _, err := ask(c, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Down()
	if _, err := ask(c, "x", 5*time.Second); err == nil {
		t.Errorf("ask on a connection open when the proxy went down succeeded; want an error")
	}
	if c2, err := net.Dial("tcp", p.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		if c2 != nil {
			c2.Close()
		}
		t.Errorf("dial while down = %v; want ECONNREFUSED", err)
	}
	if err := p.Up(); err != nil {
		t.Fatalf("Up() = %v", err)
	}
	c3 := dial(t, p)
	if got, err := ask(c3, "after", 5*time.Second); err != nil || got != "reply after\n" {
		t.Errorf("ask after Up = %q, %v; want the reply", got, err)
	}
}

// TestUpstreamDown: a connection to a proxy whose upstream refuses is
// reset.
func TestUpstreamDown(t *testing.T) {
	p, err := Start(testnet.ClosedAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return // reset before the dial returned
	}
	defer c.Close()
	if got, err := ask(c, "x", 5*time.Second); err == nil {
		t.Errorf("ask through a proxy whose upstream is gone = %q, nil; want an error", got)
	}
}

// TestClose: Close ends every connection, including one whose reply is
// held by Latency; goleak checks that no goroutine is left.
func TestClose(t *testing.T) {
	_, p := start(t)
	c := dial(t, p)
	p.Latency(time.Hour)
	if _, err := io.WriteString(c, "held\n"); err != nil {
		t.Fatal(err)
	}
	for p.Stats().Received == 0 {
		time.Sleep(time.Millisecond) // polling a counter: no event to wait on
	}
	done := make(chan struct{})
	go func() {
		p.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("Close did not return with a reply held")
	}
	if err := p.Up(); err == nil {
		t.Errorf("Up after Close = nil; want an error")
	}
}
