package memcachedfake

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock/internal/fakeclock"
	"github.com/distlock/lock/internal/testcert"
)

func startServer(t *testing.T, opts *Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newClient(t *testing.T, s *Server) *memcache.Client {
	t.Helper()
	c := memcache.New(s.Addr())
	c.Timeout = 5 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

func mustGet(t *testing.T, c *memcache.Client, key string) *memcache.Item {
	t.Helper()
	it, err := c.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return it
}

func wantMiss(t *testing.T, c *memcache.Client, key string) {
	t.Helper()
	if it, err := c.Get(key); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Get(%q) = %v, %v; want ErrCacheMiss", key, it, err)
	}
}

func wantKeys(t *testing.T, s *Server, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := s.Keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys() = %q; want %q", got, want)
	}
}

func TestClientBasics(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s)

	if err := c.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v1"), Flags: 7}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v2")}); !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("second Add = %v; want ErrNotStored", err)
	}
	it := mustGet(t, c, "k")
	if string(it.Value) != "v1" || it.Flags != 7 || it.CasID == 0 {
		t.Fatalf("Get = %q flags %d cas %d; want \"v1\" flags 7 and a CAS id", it.Value, it.Flags, it.CasID)
	}

	it.Value = []byte("v3")
	if err := c.CompareAndSwap(it); err != nil {
		t.Fatalf("CompareAndSwap: %v", err)
	}
	if err := c.CompareAndSwap(it); !errors.Is(err, memcache.ErrCASConflict) {
		t.Fatalf("CompareAndSwap with a stale CAS id = %v; want ErrCASConflict", err)
	}
	it2 := mustGet(t, c, "k")
	if string(it2.Value) != "v3" || it2.CasID <= it.CasID {
		t.Fatalf("Get = %q cas %d; want \"v3\" with a CAS id above %d", it2.Value, it2.CasID, it.CasID)
	}

	if err := c.Touch("k", 100); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if got := mustGet(t, c, "k").CasID; got != it2.CasID {
		t.Fatalf("CAS id after Touch = %d; want unchanged %d", got, it2.CasID)
	}
	if err := c.Touch("missing", 100); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Touch(missing) = %v; want ErrCacheMiss", err)
	}

	if err := c.Replace(&memcache.Item{Key: "missing", Value: []byte("x")}); !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("Replace(missing) = %v; want ErrNotStored", err)
	}
	if err := c.Set(&memcache.Item{Key: "n", Value: []byte("41")}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got, err := c.Increment("n", 1); err != nil || got != 42 {
		t.Fatalf("Increment = %d, %v; want 42, nil", got, err)
	}
	if got, err := c.Decrement("n", 100); err != nil || got != 0 {
		t.Fatalf("Decrement = %d, %v; want 0, nil", got, err)
	}
	m, err := c.GetMulti([]string{"k", "n", "missing"})
	if err != nil {
		t.Fatalf("GetMulti: %v", err)
	}
	if len(m) != 2 || string(m["k"].Value) != "v3" || string(m["n"].Value) != "0 " {
		t.Fatalf("GetMulti = %v; want k=\"v3\" and n=\"0 \"", m)
	}
	if it, err := c.GetAndTouch("k", 100); err != nil || string(it.Value) != "v3" {
		t.Fatalf("GetAndTouch = %v, %v; want \"v3\"", it, err)
	}

	wantKeys(t, s, "k", "n")
	if err := c.Delete("k"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.Delete("k"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("second Delete = %v; want ErrCacheMiss", err)
	}
	wantMiss(t, c, "k")
	it.Value = []byte("v4")
	if err := c.CompareAndSwap(it); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("CompareAndSwap on a deleted key = %v; want ErrCacheMiss", err)
	}
	if err := c.FlushAll(); err != nil {
		t.Fatalf("FlushAll: %v", err)
	}
	wantKeys(t, s)
}

func TestExpiryWholeSeconds(t *testing.T) {
	const base = 1_700_000_000
	clk := fakeclock.New(time.Unix(base+10, 900_000_000))
	s := startServer(t, &Options{Now: clk.Now})
	c := newClient(t, s)

	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v"), Expiration: 1}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	mustGet(t, c, "k")
	clk.Set(time.Unix(base+10, 999_999_999))
	mustGet(t, c, "k")
	wantKeys(t, s, "k")
	clk.Set(time.Unix(base+11, 0))
	wantMiss(t, c, "k")
	wantKeys(t, s)

	// Add succeeds over an expired item.
	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("w"), Expiration: 2}); err != nil {
		t.Fatalf("Add after expiry: %v", err)
	}
	clk.Set(time.Unix(base+12, 500_000_000))
	// Touch restarts the count from the current second.
	if err := c.Touch("k", 2); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	clk.Set(time.Unix(base+13, 999_999_999))
	if got := mustGet(t, c, "k"); string(got.Value) != "w" {
		t.Fatalf("Get = %q; want \"w\"", got.Value)
	}
	clk.Set(time.Unix(base+14, 0))
	wantMiss(t, c, "k")
	if err := c.Touch("k", 10); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Touch after expiry = %v; want ErrCacheMiss", err)
	}

	// A CompareAndSwap on an item that expired after the Get reports a miss.
	if err := c.Set(&memcache.Item{Key: "c", Value: []byte("1"), Expiration: 1}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	it := mustGet(t, c, "c")
	clk.Set(time.Unix(base+15, 0))
	if err := c.CompareAndSwap(it); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("CompareAndSwap after expiry = %v; want ErrCacheMiss", err)
	}
	wantKeys(t, s)
}

func TestNegativeExpiration(t *testing.T) {
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	s := startServer(t, &Options{Now: clk.Now})
	c := newClient(t, s)

	if err := c.Set(&memcache.Item{Key: "k", Value: []byte("v"), Expiration: -1}); err != nil {
		t.Fatalf("Set with Expiration -1: %v", err)
	}
	wantMiss(t, c, "k")
	wantKeys(t, s)

	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	it := mustGet(t, c, "k")
	it.Expiration = -1
	if err := c.CompareAndSwap(it); err != nil {
		t.Fatalf("CompareAndSwap with Expiration -1 = %v; want nil (STORED)", err)
	}
	wantMiss(t, c, "k")
	wantKeys(t, s)
	if err := c.CompareAndSwap(it); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("second CompareAndSwap = %v; want ErrCacheMiss", err)
	}

	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := c.Touch("k", -1); err != nil {
		t.Fatalf("Touch -1: %v", err)
	}
	wantMiss(t, c, "k")
}

func TestAbsoluteExpiration(t *testing.T) {
	const now = 1_700_000_100
	clk := fakeclock.New(time.Unix(now, 500_000_000))
	s := startServer(t, &Options{Now: clk.Now})
	c := newClient(t, s)

	set := func(key string, exp int32) {
		t.Helper()
		if err := c.Set(&memcache.Item{Key: key, Value: []byte("v"), Expiration: exp}); err != nil {
			t.Fatalf("Set(%q, %d): %v", key, exp, err)
		}
	}
	set("future", now+5)
	set("now", now)
	set("past", now-1)
	set("epoch", 30*24*60*60+1)
	set("month", 30*24*60*60)
	wantKeys(t, s, "future", "month")

	clk.Set(time.Unix(now+4, 999_999_999))
	wantKeys(t, s, "future", "month")
	clk.Set(time.Unix(now+5, 0))
	wantKeys(t, s, "month")
	clk.Set(time.Unix(now+30*24*60*60-1, 999_999_999))
	wantKeys(t, s, "month")
	clk.Set(time.Unix(now+30*24*60*60, 0))
	wantKeys(t, s)
}

func TestDelayedFlushAll(t *testing.T) {
	const now = 1_700_000_000
	clk := fakeclock.New(time.Unix(now, 0))
	s := startServer(t, &Options{Now: clk.Now})
	rc := dialRaw(t, s.Addr())

	rc.expect("set a 0 0 1\r\na\r\nflush_all 3\r\n", "STORED\r\nOK\r\n")
	clk.Set(time.Unix(now+1, 0))
	rc.expect("set b 0 0 1\r\nb\r\n", "STORED\r\n")
	wantKeys(t, s, "a", "b")
	clk.Set(time.Unix(now+2, 0))
	wantKeys(t, s)
	rc.expect("set c 0 0 1\r\nc\r\nflush_all noreply\r\nget c\r\n", "STORED\r\nEND\r\n")
	rc.expect("set d 0 0 1\r\nd\r\nget d\r\n", "STORED\r\nVALUE d 0 1\r\nd\r\nEND\r\n")
}

func TestConcurrentAdd(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s)
	c.MaxIdleConns = 32

	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Add(&memcache.Item{Key: "lock", Value: []byte(strconv.Itoa(i))})
		}()
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, memcache.ErrNotStored):
		default:
			t.Errorf("Add: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("successful Adds = %d; want 1", won)
	}
}

func TestDropNextReply(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s)

	s.DropNextReply("add")
	err := c.Add(&memcache.Item{Key: "k", Value: []byte("v")})
	if err == nil || errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("Add with a dropped reply = %v; want a connection error", err)
	}
	wantKeys(t, s, "k")
	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v")}); !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("Add after the dropped reply = %v; want ErrNotStored", err)
	}

	it := mustGet(t, c, "k")
	it.Value = []byte("w")
	s.DropNextReply("cas")
	if err := c.CompareAndSwap(it); err == nil {
		t.Fatal("CompareAndSwap with a dropped reply succeeded; want a connection error")
	}
	if got := mustGet(t, c, "k"); string(got.Value) != "w" {
		t.Fatalf("value after the dropped cas reply = %q; want \"w\"", got.Value)
	}

	s.DropNextReply("gets")
	s.DropNextReply("gets")
	for i := range 2 {
		if _, err := c.Get("k"); err == nil || errors.Is(err, memcache.ErrCacheMiss) {
			t.Fatalf("Get %d with a dropped reply = %v; want a connection error", i, err)
		}
	}
	mustGet(t, c, "k")
	// Each dropped reply cost a connection.
	if got, want := s.TotalConnections(), 5; got != want {
		t.Fatalf("TotalConnections() = %d; want %d", got, want)
	}
}

func TestFailNext(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s)

	s.FailNext("add")
	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v")}); err == nil || errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("Add with a lost request = %v; want a connection error", err)
	}
	wantKeys(t, s)
	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Add after the lost request: %v", err)
	}

	it := mustGet(t, c, "k")
	it.Value = []byte("w")
	s.FailNext("cas")
	if err := c.CompareAndSwap(it); err == nil {
		t.Fatal("CompareAndSwap with a lost request succeeded; want a connection error")
	}
	if got := mustGet(t, c, "k"); string(got.Value) != "v" || got.CasID != it.CasID {
		t.Fatalf("after the lost cas: value %q cas %d; want \"v\" cas %d", got.Value, got.CasID, it.CasID)
	}
	if err := c.CompareAndSwap(it); err != nil {
		t.Fatalf("CompareAndSwap after the lost request: %v", err)
	}

	s.FailNext("delete")
	if err := c.Delete("k"); err == nil {
		t.Fatal("Delete with a lost request succeeded; want a connection error")
	}
	wantKeys(t, s, "k")
}

func TestLandLate(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s)
	if err := c.Set(&memcache.Item{Key: "k", Value: []byte("v1")}); err != nil {
		t.Fatal(err)
	}
	it := mustGet(t, c, "k")
	it.Value = []byte("v2")
	s.LandLate("cas")
	if err := c.CompareAndSwap(it); err == nil {
		t.Fatal("CompareAndSwap held back succeeded; want a connection error")
	}
	if got := mustGet(t, c, "k"); string(got.Value) != "v1" {
		t.Fatalf("before the next cas: value %q; want \"v1\" (the held cas has not landed)", got.Value)
	}
	// The held cas lands first, so this one, on the same cas id, conflicts.
	if err := c.CompareAndSwap(it); !errors.Is(err, memcache.ErrCASConflict) {
		t.Fatalf("CompareAndSwap after the held one landed = %v; want ErrCASConflict", err)
	}
	if got := mustGet(t, c, "k"); string(got.Value) != "v2" {
		t.Fatalf("after the held cas landed: value %q; want \"v2\"", got.Value)
	}
}

func TestTotalConnections(t *testing.T) {
	s := startServer(t, nil)
	if got := s.TotalConnections(); got != 0 {
		t.Fatalf("TotalConnections() = %d; want 0", got)
	}
	for i := range 3 {
		c := memcache.New(s.Addr())
		if err := c.Ping(); err != nil {
			t.Fatalf("Ping %d: %v", i, err)
		}
		c.Close()
	}
	if got := s.TotalConnections(); got != 3 {
		t.Fatalf("TotalConnections() = %d; want 3", got)
	}
	rc := dialRaw(t, s.Addr())
	st := rc.stats()
	if got := st["total_connections"]; got != "4" {
		t.Fatalf("STAT total_connections = %q; want \"4\"", got)
	}
}

func TestStats(t *testing.T) {
	clk := fakeclock.New(time.Unix(1_700_000_000, 700_000_000))
	s := startServer(t, &Options{Now: clk.Now})
	rc := dialRaw(t, s.Addr())
	rc.expect("set a 0 0 1\r\na\r\nset b 0 -1 1\r\nb\r\nset c 0 5 1\r\nc\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
	st := rc.stats()
	for name, want := range map[string]string{
		"curr_items":        "2",
		"total_items":       "3",
		"time":              "1700000000",
		"total_connections": "1",
		"curr_connections":  "1",
		"version":           version,
	} {
		if got := st[name]; got != want {
			t.Errorf("STAT %s = %q; want %q", name, got, want)
		}
	}
	rc.expect("stats reset\r\n", "RESET\r\n")
}

func TestTLS(t *testing.T) {
	tc := testcert.New(t)
	cert, pool := tc.TLS, tc.Roots
	s := startServer(t, &Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})

	c := newClient(t, s)
	dialer := &tls.Dialer{Config: &tls.Config{RootCAs: pool}}
	c.DialContext = dialer.DialContext
	if err := c.Ping(); err != nil {
		t.Fatalf("Ping over TLS: %v", err)
	}
	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Add over TLS: %v", err)
	}
	if got := mustGet(t, c, "k"); string(got.Value) != "v" {
		t.Fatalf("Get over TLS = %q; want \"v\"", got.Value)
	}

	plain := memcache.New(s.Addr())
	plain.Timeout = 5 * time.Second
	defer plain.Close()
	if err := plain.Ping(); err == nil {
		t.Fatal("plain-text Ping against a TLS server succeeded; want an error")
	}
}

func TestCloseEndsConnections(t *testing.T) {
	cert := testcert.New(t).TLS
	for _, tc := range []struct {
		name string
		opts *Options
	}{
		{"plain", nil},
		{"tls", &Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			// An idle connection that never completes a TLS handshake
			// (or never sends a command) must not keep Close waiting.
			conn, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if tc.opts == nil {
				rc := &rawConn{t: t, c: conn, r: bufio.NewReader(conn)}
				rc.expect("set k 0 0 1\r\nv\r\n", "STORED\r\n")
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if n, err := conn.Read(make([]byte, 1)); err == nil {
				t.Fatalf("Read after Close = %d, nil; want an error", n)
			}
			if c, err := net.Dial("tcp", s.Addr()); err == nil {
				c.Close()
				t.Fatal("Dial after Close succeeded; want an error")
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

// rawConn is a text-protocol connection for byte-exact checks.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, c: c, r: bufio.NewReaderSize(c, 1<<16)}
}

// roundTrip sends payload followed by "version\r\n" and returns what the
// server wrote before the VERSION line; if the server hangs up first, the
// result ends in "<EOF>".
func (rc *rawConn) roundTrip(payload string) string {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(payload + "version\r\n")); err != nil {
		return "<EOF>"
	}
	var b strings.Builder
	for {
		line, err := rc.r.ReadString('\n')
		if err != nil {
			b.WriteString(line)
			b.WriteString("<EOF>")
			return b.String()
		}
		if strings.HasPrefix(line, "VERSION ") {
			return b.String()
		}
		b.WriteString(line)
	}
}

func (rc *rawConn) expect(payload, want string) {
	rc.t.Helper()
	if got := rc.roundTrip(payload); got != want {
		rc.t.Fatalf("reply to %q = %q; want %q", payload, got, want)
	}
}

func (rc *rawConn) stats() map[string]string {
	rc.t.Helper()
	reply := rc.roundTrip("stats\r\n")
	lines := strings.Split(strings.TrimSuffix(reply, "\r\n"), "\r\n")
	if len(lines) == 0 || lines[len(lines)-1] != "END" {
		rc.t.Fatalf("stats reply %q does not end in END", reply)
	}
	st := make(map[string]string)
	for _, l := range lines[:len(lines)-1] {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 || f[0] != "STAT" {
			rc.t.Fatalf("stats line %q; want STAT <name> <value>", l)
		}
		st[f[1]] = f[2]
	}
	return st
}

// step is one request of a protocol script and the reply memcached 1.6
// gives. In a request, "{cas}" stands for the CAS id of the last VALUE line
// seen on the connection. In a reply, CAS ids are written "#1", "#2", ... in
// order of first appearance.
type step struct {
	req, want string
}

type script struct {
	name  string
	steps []step
}

// protocolScripts returns request/reply scripts for keys starting with
// prefix. The replies were taken from memcached 1.6.18; none depends on
// timing. flush_all is left out because it would disturb other users of a
// shared real server.
func protocolScripts(prefix string) []script {
	const (
		badFormat  = "CLIENT_ERROR bad command line format\r\n"
		badChunk   = "CLIENT_ERROR bad data chunk\r\n"
		badExp     = "CLIENT_ERROR invalid exptime argument\r\n"
		badDelta   = "CLIENT_ERROR invalid numeric delta argument\r\n"
		nonNumeric = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
		tooLarge   = "SERVER_ERROR object too large for cache\r\n"
		usage      = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
	)
	future := strconv.FormatInt(time.Now().Unix()+1000, 10)
	long := strings.Repeat("k", 251)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}

	var scripts []script
	add := func(name string, steps ...step) {
		p := prefix + "-" + name + "-"
		r := strings.NewReplacer("$A", p+"A", "$B", p+"B", "$C", p+"C", "$D", p+"D", "$E", p+"E",
			"$F", p+"F", "$G", p+"G", "$H", p+"H", "$I", p+"I", "$J", p+"J", "$M", p+"M",
			"$L", long, "{future}", future)
		for i := range steps {
			steps[i].req = r.Replace(steps[i].req)
			steps[i].want = r.Replace(steps[i].want)
		}
		scripts = append(scripts, script{name, steps})
	}

	add("storage",
		step{"set $A 0 300 5\r\nhello\r\n", "STORED\r\n"},
		step{"get $A\r\n", "VALUE $A 0 5\r\nhello\r\nEND\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 5 #1\r\nhello\r\nEND\r\n"},
		step{"add $A 0 300 1\r\nx\r\n", "NOT_STORED\r\n"},
		step{"replace $A 7 300 3\r\nbye\r\n", "STORED\r\n"},
		step{"gets $A $A $M\r\n", "VALUE $A 7 3 #2\r\nbye\r\nVALUE $A 7 3 #2\r\nbye\r\nEND\r\n"},
		step{"replace $M 0 300 1\r\nx\r\n", "NOT_STORED\r\n"},
		step{"append $A 0 0 2\r\n!!\r\n", "STORED\r\n"},
		step{"prepend $A 9 0 2\r\n<<\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "VALUE $A 7 7 #3\r\n<<bye!!\r\nEND\r\n"},
		step{"append $M 0 0 1\r\nx\r\n", "NOT_STORED\r\n"},
		step{"prepend $M 0 0 1\r\nx\r\n", "NOT_STORED\r\n"},
		step{"delete $A\r\n", "DELETED\r\n"},
		step{"delete $A\r\n", "NOT_FOUND\r\n"},
		step{"get $A\r\n", "END\r\n"},
		step{"add $A 0 300 4\r\na\r\nb\r\n", "STORED\r\n"},
		step{"get $A\r\n", "VALUE $A 0 4\r\na\r\nb\r\nEND\r\n"},
		step{"set $A 0 300 0\r\n\r\n", "STORED\r\n"},
		step{"get $A\r\n", "VALUE $A 0 0\r\n\r\nEND\r\n"},
		step{"set $B 0 300 256\r\n" + string(binary) + "\r\n", "STORED\r\n"},
		step{"get $B\r\n", "VALUE $B 0 256\r\n" + string(binary) + "\r\nEND\r\n"},
		step{"set $C 0 300 1\r\n1\r\nget $C\r\ndelete $C\r\nget $C\r\n", "STORED\r\nVALUE $C 0 1\r\n1\r\nEND\r\nDELETED\r\nEND\r\n"},
	)

	add("cas",
		step{"set $A 0 300 1\r\na\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 1 #1\r\na\r\nEND\r\n"},
		step{"cas $A 0 300 1 {cas}\r\nb\r\n", "STORED\r\n"},
		step{"cas $A 0 300 1 {cas}\r\nc\r\n", "EXISTS\r\n"},
		step{"cas $A 0 300 1 0\r\nc\r\n", "EXISTS\r\n"},
		step{"cas $M 0 300 1 1\r\nc\r\n", "NOT_FOUND\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 1 #2\r\nb\r\nEND\r\n"},
		step{"touch $A 300\r\n", "TOUCHED\r\n"},
		step{"gets $A\r\n", "VALUE $A 0 1 #2\r\nb\r\nEND\r\n"},
		step{"gats 300 $A $M\r\n", "VALUE $A 0 1 #2\r\nb\r\nEND\r\n"},
		step{"gat 300 $A\r\n", "VALUE $A 0 1\r\nb\r\nEND\r\n"},
		step{"cas $A 0 -1 1 {cas}\r\nd\r\n", "STORED\r\n"},
		step{"get $A\r\n", "END\r\n"},
		step{"cas $A 0 300 1 {cas}\r\ne\r\n", "NOT_FOUND\r\n"},
		step{"add $A 0 300 1\r\nf\r\n", "STORED\r\n"},
		step{"gat -1 $A\r\n", "VALUE $A 0 1\r\nf\r\nEND\r\n"},
		step{"get $A\r\n", "END\r\n"},
		step{"touch $A 300\r\n", "NOT_FOUND\r\n"},
		step{"gat 0\r\n", "END\r\n"},
	)

	add("expiry",
		step{"set $A 0 -1 1\r\na\r\n", "STORED\r\n"},
		step{"get $A\r\n", "END\r\n"},
		step{"add $A 0 300 1\r\nb\r\n", "STORED\r\n"},
		step{"get $A\r\n", "VALUE $A 0 1\r\nb\r\nEND\r\n"},
		step{"replace $A 0 -1 1\r\nc\r\n", "STORED\r\n"},
		step{"add $A 0 300 1\r\nd\r\n", "STORED\r\n"},
		step{"set $B 0 2592000 1\r\na\r\n", "STORED\r\n"},
		step{"get $B\r\n", "VALUE $B 0 1\r\na\r\nEND\r\n"},
		step{"set $C 0 2592001 1\r\na\r\n", "STORED\r\n"},
		step{"get $C\r\n", "END\r\n"},
		step{"set $D 0 1000000000 1\r\na\r\n", "STORED\r\n"},
		step{"get $D\r\n", "END\r\n"},
		step{"set $E 0 {future} 1\r\na\r\n", "STORED\r\n"},
		step{"get $E\r\n", "VALUE $E 0 1\r\na\r\nEND\r\n"},
		step{"set $F 0 99999999999 1\r\na\r\n", "STORED\r\n"},
		step{"get $F\r\n", "END\r\n"},
		step{"set $G 0 -99999999999 1\r\na\r\n", "STORED\r\n"},
		step{"get $G\r\n", "END\r\n"},
		step{"set $H 0 4294967596 1\r\na\r\n", "STORED\r\n"},
		step{"get $H\r\n", "VALUE $H 0 1\r\na\r\nEND\r\n"},
		step{"touch $B -1\r\n", "TOUCHED\r\n"},
		step{"get $B\r\n", "END\r\n"},
		step{"touch $E 0\r\n", "TOUCHED\r\n"},
		step{"get $E\r\n", "VALUE $E 0 1\r\na\r\nEND\r\n"},
		step{"set $I 0 300 1\r\na\r\n", "STORED\r\n"},
		step{"touch $I 1000000000\r\n", "TOUCHED\r\n"},
		step{"get $I\r\n", "END\r\n"},
	)

	add("errors",
		step{"set $L 0 0 1\r\nx\r\n", badFormat + "ERROR\r\n"},
		step{"get $L\r\n", badFormat},
		step{"set $A 0 300 1\r\na\r\n", "STORED\r\n"},
		step{"get $A $L $A\r\n", badFormat},
		step{"touch $L 0\r\n", badFormat},
		step{"delete $L\r\n", badFormat},
		step{"incr $L 1\r\n", badFormat},
		step{"set $B 0 0 3\r\nabcd\r\n", badChunk + "ERROR\r\n"},
		step{"set $B 0 0 3\r\nab\r\n\r\n", badChunk + "ERROR\r\n"},
		step{"set $B 0 0 1\r\nab\n", badChunk},
		step{"get $B\r\n", "END\r\n"},
		step{"set $B 0 0 -1\r\nab\r\n", badFormat + "ERROR\r\n"},
		step{"set $B x 0 1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"set $B -1 0 1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"set $B 0 5x 1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"set $B 0 0 x\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"set $B 18446744073709551616 0 1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"set $B 0 0\r\n", "ERROR\r\n"},
		step{"set $B 0 0 1 noreply extra\r\na\r\n", "ERROR\r\nERROR\r\n"},
		step{"set $B 0 300 1 foo\r\na\r\n", "STORED\r\n"},
		step{"cas $B 0 0 1\r\na\r\n", "ERROR\r\nERROR\r\n"},
		step{"cas $B 0 0 1 x\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"cas $B 0 0 1 -1\r\na\r\n", badFormat + "ERROR\r\n"},
		step{"foo\r\n", "ERROR\r\n"},
		step{"\r\n", "ERROR\r\n"},
		step{"   \r\n", "ERROR\r\n"},
		step{"GET $B\r\n", "ERROR\r\n"},
		step{"get\r\n", "ERROR\r\n"},
		step{"gets\r\n", "ERROR\r\n"},
		step{"gat\r\n", "ERROR\r\n"},
		step{"delete\r\n", "ERROR\r\n"},
		step{"touch $B\r\n", "ERROR\r\n"},
		step{"incr $B\r\n", "ERROR\r\n"},
		step{"delete $B 5\r\n", usage},
		step{"delete $B noreply extra\r\n", usage},
		step{"delete $B 0\r\n", "DELETED\r\n"},
		step{"touch $A x\r\n", badExp},
		step{"gat x $A\r\n", badExp},
		step{"stats nosuchgroup\r\n", "ERROR\r\n"},
		step{"verbosity\r\n", "ERROR\r\n"},
		step{"get $A\r\r\n", "END\r\n"},
		step{"set $C 4294967297 300 1\r\na\r\n", "STORED\r\n"},
		step{"get $C\r\n", "VALUE $C 1 1\r\na\r\nEND\r\n"},
		step{"set $C +5 +300 01\r\na\r\n", "STORED\r\n"},
		step{"get $C\r\n", "VALUE $C 5 1\r\na\r\nEND\r\n"},
		step{"set $C 0 300 4294967297\r\na\r\n", "STORED\r\n"},
		step{"get $C\r\n", "VALUE $C 0 1\r\na\r\nEND\r\n"},
		step{"set $D\x01\t 0 300 1\r\na\r\n", "STORED\r\n"},
		step{"get $D\x01\t\r\n", "VALUE $D\x01\t 0 1\r\na\r\nEND\r\n"},
		step{"delete $D\x01\t\r\n", "DELETED\r\n"},
		step{"set  $E  0 300 1\r\na\r\n", "STORED\r\n"},
		step{"get $E\n", "VALUE $E 0 1\r\na\r\nEND\r\n"},
	)

	add("noreply",
		step{"set $A 0 300 1 noreply\r\na\r\n", ""},
		step{"get $A\r\n", "VALUE $A 0 1\r\na\r\nEND\r\n"},
		step{"add $A 0 300 1 noreply\r\nb\r\n", ""},
		step{"replace $A 0 300 1 noreply\r\nc\r\n", ""},
		step{"append $A 0 0 1 noreply\r\nd\r\n", ""},
		step{"prepend $A 0 0 1 noreply\r\ne\r\n", ""},
		step{"get $A\r\n", "VALUE $A 0 3\r\necd\r\nEND\r\n"},
		step{"set $A 0 0 3 noreply\r\nabcd\r\n", "ERROR\r\n"},
		step{"set $L 0 0 1 noreply\r\nx\r\n", "ERROR\r\n"},
		step{"cas $A 0 0 1 x noreply\r\na\r\n", "ERROR\r\n"},
		step{"cas $A 0 0 1 1 noreply\r\na\r\n", ""},
		step{"touch $A x noreply\r\n", ""},
		step{"touch $A 300 noreply\r\n", ""},
		step{"incr $A 1 noreply\r\n", ""},
		step{"delete $A 5 noreply\r\n", ""},
		step{"get $A\r\n", "VALUE $A 0 3\r\necd\r\nEND\r\n"},
		step{"delete $A noreply\r\n", ""},
		step{"get $A\r\n", "END\r\n"},
		step{"set $B 0 300 1\r\nb\r\n", "STORED\r\n"},
		step{"delete $B 0 noreply\r\n", ""},
		step{"get $B\r\n", "END\r\n"},
		step{"bogus noreply\r\n", "ERROR\r\n"},
		step{"get $A noreply\r\n", "END\r\n"},
	)

	add("arith",
		step{"set $A 0 300 1\r\na\r\n", "STORED\r\n"},
		step{"incr $A 1\r\n", nonNumeric},
		step{"decr $A 1\r\n", nonNumeric},
		step{"incr $M 1\r\n", "NOT_FOUND\r\n"},
		step{"decr $M 1\r\n", "NOT_FOUND\r\n"},
		step{"incr $A x\r\n", badDelta},
		step{"incr $A -1\r\n", badDelta},
		step{"incr $A 18446744073709551616\r\n", badDelta},
		step{"set $A 5 300 2\r\n10\r\n", "STORED\r\n"},
		step{"gets $A\r\n", "VALUE $A 5 2 #1\r\n10\r\nEND\r\n"},
		step{"incr $A 95\r\n", "105\r\n"},
		step{"gets $A\r\n", "VALUE $A 5 3 #2\r\n105\r\nEND\r\n"},
		step{"decr $A 5\r\n", "100\r\n"},
		step{"gets $A\r\n", "VALUE $A 5 3 #3\r\n100\r\nEND\r\n"},
		step{"decr $A 200\r\n", "0\r\n"},
		step{"get $A\r\n", "VALUE $A 5 3\r\n0  \r\nEND\r\n"},
		step{"set $A 0 300 20\r\n18446744073709551615\r\n", "STORED\r\n"},
		step{"incr $A 2\r\n", "1\r\n"},
		step{"get $A\r\n", "VALUE $A 0 20\r\n1                   \r\nEND\r\n"},
		step{"set $A 0 300 3\r\n 5 \r\n", "STORED\r\n"},
		step{"incr $A 1\r\n", "6\r\n"},
		step{"get $A\r\n", "VALUE $A 0 3\r\n6  \r\nEND\r\n"},
		step{"set $A 0 300 4\r\n7 xy\r\n", "STORED\r\n"},
		step{"incr $A 1\r\n", "8\r\n"},
		step{"set $A 0 300 2\r\n-5\r\n", "STORED\r\n"},
		step{"incr $A 1\r\n", nonNumeric},
		step{"set $A 0 300 2\r\n-0\r\n", "STORED\r\n"},
		step{"incr $A 3\r\n", "3\r\n"},
		step{"set $A 0 300 25\r\n1234567890123456789012345\r\n", "STORED\r\n"},
		step{"incr $A 1\r\n", nonNumeric},
		step{"set $A 0 300 0\r\n\r\n", "STORED\r\n"},
		step{"incr $A 1\r\n", nonNumeric},
	)

	// memcached's default 1 MiB item limit covers a 56-byte header, the key
	// and its NUL, the value and its "\r\n", and 4 bytes for non-zero flags.
	keyLen := len(prefix + "-sizes-A")
	maxValue := 1<<20 - 56 - (keyLen + 1) - 2
	value := func(n int) string { return strconv.Itoa(n) + "\r\n" + strings.Repeat("v", n) + "\r\n" }
	add("sizes",
		step{"set $A 0 300 " + value(maxValue), "STORED\r\n"},
		step{"set $A 0 300 " + value(maxValue+1), tooLarge},
		step{"get $A\r\n", "END\r\n"},
		step{"set $A 1 300 " + value(maxValue-4), "STORED\r\n"},
		step{"set $A 1 300 " + value(maxValue-3), tooLarge},
		step{"set $A 0 300 5\r\nhello\r\n", "STORED\r\n"},
		step{"add $A 0 300 " + value(maxValue+1), tooLarge},
		step{"get $A\r\n", "VALUE $A 0 5\r\nhello\r\nEND\r\n"},
		step{"append $A 0 0 " + value(maxValue-4), "NOT_STORED\r\n"},
		step{"append $A 0 0 " + value(maxValue-5), "STORED\r\n"},
		step{"set $A 0 300 " + strconv.Itoa(maxValue+1) + " noreply\r\n" + strings.Repeat("v", maxValue+1) + "\r\n", ""},
		step{"get $A\r\n", "END\r\n"},
	)

	add("quit",
		step{"set $A 0 300 1\r\na\r\nget $A\r\nquit\r\n", "STORED\r\nVALUE $A 0 1\r\na\r\nEND\r\n<EOF>"},
	)
	add("http",
		step{"GET / HTTP/1.1\r\n", "<EOF>"},
	)
	return scripts
}

// runScript runs sc on a fresh connection to addr and returns the normalised
// replies, stopping after the server hangs up.
func runScript(t *testing.T, addr string, sc script) []string {
	t.Helper()
	rc := dialRaw(t, addr)
	casNames := make(map[string]string)
	lastCas := "0"
	var replies []string
	for _, st := range sc.steps {
		reply := rc.roundTrip(strings.ReplaceAll(st.req, "{cas}", lastCas))
		lines := strings.SplitAfter(reply, "\r\n")
		for i, l := range lines {
			f := strings.Split(strings.TrimSuffix(l, "\r\n"), " ")
			if len(f) != 5 || f[0] != "VALUE" || !strings.HasSuffix(l, "\r\n") {
				continue
			}
			lastCas = f[4]
			name, ok := casNames[f[4]]
			if !ok {
				name = "#" + strconv.Itoa(len(casNames)+1)
				casNames[f[4]] = name
			}
			f[4] = name
			lines[i] = strings.Join(f, " ") + "\r\n"
		}
		replies = append(replies, strings.Join(lines, ""))
		if strings.HasSuffix(reply, "<EOF>") {
			break
		}
	}
	return replies
}

func checkScript(t *testing.T, server string, sc script, got []string) {
	t.Helper()
	for i, st := range sc.steps {
		if i >= len(got) {
			t.Errorf("%s: %s: no reply to step %d %s (the server hung up)", server, sc.name, i, clip(st.req))
			return
		}
		if got[i] != st.want {
			t.Errorf("%s: %s: reply to %s = %s; want %s", server, sc.name, clip(st.req), clip(got[i]), clip(st.want))
		}
	}
}

// clip quotes s, shortening it when it is long.
func clip(s string) string {
	if len(s) > 200 {
		return fmt.Sprintf("%q...(%d bytes)", s[:200], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func TestProtocolScripts(t *testing.T) {
	s := startServer(t, nil)
	for _, sc := range protocolScripts("fake") {
		t.Run(sc.name, func(t *testing.T) {
			checkScript(t, "fake", sc, runScript(t, s.Addr(), sc))
		})
	}
}

// TestCompareWithRealServer runs the protocol scripts against the memcached
// named by LOCK_TEST_MEMCACHED_URL (memcached://host:port) and against the
// fake, and compares the replies.
func TestCompareWithRealServer(t *testing.T) {
	raw := os.Getenv("LOCK_TEST_MEMCACHED_URL")
	if raw == "" {
		t.Skip("LOCK_TEST_MEMCACHED_URL is not set")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "memcached" || u.Host == "" {
		t.Skipf("LOCK_TEST_MEMCACHED_URL %q is not a memcached://host:port URL", raw)
	}
	realAddr := u.Host
	if _, _, err := net.SplitHostPort(realAddr); err != nil {
		realAddr = net.JoinHostPort(realAddr, "11211")
	}

	s := startServer(t, nil)
	prefix := "memcachedfake-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, sc := range protocolScripts(prefix) {
		t.Run(sc.name, func(t *testing.T) {
			want := runScript(t, realAddr, sc)
			got := runScript(t, s.Addr(), sc)
			checkScript(t, "memcached", sc, want)
			for i := range max(len(got), len(want)) {
				var g, w string
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != w {
					t.Errorf("%s: reply to %s: fake %s; memcached %s", sc.name, clip(sc.steps[i].req), clip(g), clip(w))
				}
			}
		})
	}
}

func TestExpiryConversion(t *testing.T) {
	s := &Server{startSec: 1_700_000_000}
	const now = 1_700_000_123
	for _, tc := range []struct {
		exptime int32
		want    int64
	}{
		{0, 0},
		{-1, expiredAlready},
		{1, now + 1},
		{2592000, now + 2592000},
		{2592001, expiredAlready},
		{1_700_000_000, expiredAlready},
		{1_700_000_500, 1_700_000_500},
	} {
		if got := s.expiry(tc.exptime, now); got != tc.want {
			t.Errorf("expiry(%d) = %d; want %d", tc.exptime, got, tc.want)
		}
	}
}

func TestCNumbers(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want32 int32
		ok32   bool
		wantU  uint64
		okU    bool
	}{
		{"0", 0, true, 0, true},
		{"+5", 5, true, 5, true},
		{"-5", -5, true, 0, false},
		{"-0", 0, true, 0, true},
		{"007", 7, true, 7, true},
		{"5x", 0, false, 0, false},
		{"x", 0, false, 0, false},
		{"", 0, false, 0, false},
		{"-", 0, false, 0, false},
		{"\t5", 5, true, 5, true},
		{"5\r\n", 5, true, 5, true},
		{"4294967297", 1, true, 4294967297, true},
		{"18446744073709551615", 0, false, 18446744073709551615, true},
		{"18446744073709551616", 0, false, 0, false},
	} {
		if got, ok := strtol32(tc.in); got != tc.want32 || ok != tc.ok32 {
			t.Errorf("strtol32(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want32, tc.ok32)
		}
		if got, ok := strtoull(tc.in); got != tc.wantU || ok != tc.okU {
			t.Errorf("strtoull(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.wantU, tc.okU)
		}
	}
}
