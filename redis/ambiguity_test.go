package redis_test

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/redis"
)

// Faults that faultProxy injects into the next SET command.
const (
	passThrough = iota
	dropReply   // forward the SET, then cut the connection instead of passing on its reply
	dropRequest // cut the connection instead of forwarding the SET
	dropAndDie  // as dropReply, and stop listening: every later call fails too
)

// faultProxy is a TCP proxy in front of a real server that cuts the
// connection around one SET command, as a network failure would.
type faultProxy struct {
	ln     net.Listener
	target string
	fault  atomic.Int32 // for the next SET only
	sets   atomic.Int32 // SET commands seen
	onCut  func()       // if not nil, called as a reply is dropped; set before the fault

	mu    sync.Mutex
	conns map[net.Conn]bool
	dead  bool
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: make(map[net.Conn]bool)}
	go p.accept()
	t.Cleanup(p.stop)
	return p
}

func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

// track registers c, or closes it and reports false once the proxy stopped.
func (p *faultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

// stop closes the listener and every connection.
func (p *faultProxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = true
	for c := range p.conns {
		c.Close()
	}
}

// setCommand is how a SET starts on the wire, after its array header.
var setCommand = []byte("\r\n$3\r\nset\r\n")

func (p *faultProxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client) || !p.track(server) {
		client.Close()
		server.Close()
		return
	}
	cut := func() {
		client.Close()
		server.Close()
	}
	var cutReply, die atomic.Bool
	go func() { // server to client
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && cutReply.Swap(false) {
				if p.onCut != nil {
					p.onCut()
				}
				if die.Load() {
					// Stop listening before the cut: a client that sees
					// the cut and dials again must find nobody.
					p.stop()
				}
				cut()
				return
			}
			if n > 0 {
				if _, err := client.Write(buf[:n]); err != nil {
					cut()
					return
				}
			}
			if err != nil {
				cut()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for { // client to server; go-redis sends one command at a time here
		n, err := client.Read(buf)
		if n > 0 && bytes.Contains(buf[:n], setCommand) {
			p.sets.Add(1)
			switch p.fault.Swap(passThrough) {
			case dropRequest:
				cut()
				return
			case dropAndDie:
				die.Store(true)
				cutReply.Store(true)
			case dropReply:
				cutReply.Store(true)
			}
		}
		if n > 0 {
			if _, err := server.Write(buf[:n]); err != nil {
				cut()
				return
			}
		}
		if err != nil {
			cut()
			return
		}
	}
}

// proxied returns a client that reaches addr through a new faultProxy.
// maxRetries is go-redis's MaxRetries: -1 for none.
func proxied(t *testing.T, addr string, maxRetries int) (*faultProxy, *goredis.Client) {
	p := newFaultProxy(t, addr)
	c := goredis.NewClient(&goredis.Options{
		Addr:       p.Addr(),
		MaxRetries: maxRetries,
		// One dial attempt: a dead proxy must fail a call quickly.
		DialerRetries: 1,
	})
	t.Cleanup(func() { c.Close() })
	return p, c
}

// TestAmbiguousSetLanded: the SET reached the server, its reply was lost,
// and time passed. Without retries in go-redis, the backend's own second
// SET NX GET finds the token; with them, go-redis's retry finds it. Either
// way the lock is reported acquired, with its full ttl restarted.
func TestAmbiguousSetLanded(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxRetries int
		wantSets   int32
	}{
		{"RetriedByBackend", -1, 2},
		{"RetriedByGoRedis", 0, 2}, // 0: go-redis's default, 3 retries
	} {
		t.Run(tc.name, func(t *testing.T) {
			mr, _ := mini(t)
			p, c := proxied(t, mr.Addr(), tc.maxRetries)
			l := mustNew(t, c, testOpts)
			defer l.Close()
			ctx := ctxT(t)
			p.onCut = func() { mr.FastForward(10 * time.Second) }
			p.fault.Store(dropReply)
			s, err := l.TryAcquire(ctx, "k", time.Minute)
			if err != nil {
				t.Fatalf("TryAcquire with the SET reply lost = %v; want a lease (the SET landed)", err)
			}
			if got, want := p.sets.Load(), tc.wantSets; got != want {
				t.Errorf("SET commands sent = %d; want %d", got, want)
			}
			if got, err := mr.Get("lock:k"); err != nil || got != s.Token() {
				t.Errorf("stored token = %q, %v; want the lease's %q", got, err, s.Token())
			}
			if got, want := mr.TTL("lock:k"), time.Minute+time.Millisecond; got != want {
				t.Errorf("PTTL = %v; want %v (restarted when the acquire returned)", got, want)
			}
			if err := s.Release(ctx); err != nil {
				t.Errorf("Release() = %v; want nil", err)
			}
			if mr.Exists("lock:k") {
				t.Errorf("lock:k exists after Release")
			}
		})
	}
}

// TestAmbiguousSetHeld: the key is held by another owner and the reply to
// our SET is lost: the lock is not reported acquired, and the holder keeps
// it.
func TestAmbiguousSetHeld(t *testing.T) {
	for _, maxRetries := range []int{-1, 0} {
		mr, direct := mini(t)
		holder := mustNew(t, direct, testOpts)
		ctx := ctxT(t)
		held, err := holder.TryAcquire(ctx, "k", time.Minute)
		if err != nil {
			t.Fatalf("TryAcquire by the holder = %v", err)
		}
		p, c := proxied(t, mr.Addr(), maxRetries)
		l := mustNew(t, c, testOpts)
		p.fault.Store(dropReply)
		ok, err := l.TryAcquireLock(ctx, "k", time.Minute)
		if ok || err != nil {
			t.Errorf("MaxRetries %d: TryAcquireLock of a held key, reply lost = %v, %v; want false, nil", maxRetries, ok, err)
		}
		if p.sets.Load() == 0 {
			t.Errorf("MaxRetries %d: no SET went through the proxy", maxRetries)
		}
		if got, err := mr.Get("lock:k"); err != nil || got != held.Token() {
			t.Errorf("MaxRetries %d: stored token = %q, %v; want the holder's %q", maxRetries, got, err, held.Token())
		}
		l.Close()
		holder.Close()
	}
}

// TestAmbiguousSetLost: the SET never reached the server. The backend
// sends it again, finds the key free and takes it.
func TestAmbiguousSetLost(t *testing.T) {
	mr, _ := mini(t)
	p, c := proxied(t, mr.Addr(), -1)
	l := mustNew(t, c, testOpts)
	defer l.Close()
	ctx := ctxT(t)
	p.fault.Store(dropRequest)
	ok, err := l.TryAcquireLock(ctx, "k", time.Minute)
	if !ok || err != nil {
		t.Errorf("TryAcquireLock with the SET lost = %v, %v; want true, nil (the backend sends it again)", ok, err)
	}
	if got := p.sets.Load(); got != 2 {
		t.Errorf("SET commands sent = %d; want 2", got)
	}
	if !mr.Exists("lock:k") {
		t.Errorf("lock:k does not exist after an acquire reported held")
	}
	if err := l.ReleaseLock(ctx, "k"); err != nil {
		t.Errorf("ReleaseLock = %v; want nil", err)
	}
}

// TestAmbiguousCheckFails: the SET landed, its reply was lost, and the
// server became unreachable before the check: an error, and never a report
// of a lock acquired.
func TestAmbiguousCheckFails(t *testing.T) {
	mr, _ := mini(t)
	p, c := proxied(t, mr.Addr(), -1)
	// The SET that landed is released in the background, which the server
	// gone never answers: Close gives up on it after its close timeout, a
	// short one here (the default is 2s).
	l := mustNew(t, c, &redis.Options{Options: lock.Options{RetryInterval: testRetry, CloseTimeout: 100 * time.Millisecond}})
	defer l.Close()
	ctx := ctxT(t)
	p.fault.Store(dropAndDie)
	ok, err := l.TryAcquireLock(ctx, "k", time.Minute)
	if ok || err == nil {
		t.Fatalf("TryAcquireLock with the SET reply lost and the server gone = %v, %v; want false and an error", ok, err)
	}
	if errors.Is(err, lock.ErrNotAcquired) {
		t.Errorf("error %v matches ErrNotAcquired; want an infrastructure error", err)
	}
	if !mr.Exists("lock:k") {
		t.Errorf("lock:k does not exist; the fault should have let the SET land")
	}
	// The Lock value does not think it holds k: its release is a no-op.
	if err := l.ReleaseLock(ctx, "k"); err != nil {
		t.Errorf("ReleaseLock after an acquire that failed = %v; want nil (not held)", err)
	}
}
