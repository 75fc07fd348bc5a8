package memcachedtest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
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

// This file tests the fake through gomemcache and raw connections: the
// commands, expiration times, injected faults, stats, TLS and Close.

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

	if err := c.Add(&memcache.Item{Key: "n", Value: []byte("41")}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	m, err := c.GetMulti([]string{"k", "n", "missing"})
	if err != nil {
		t.Fatalf("GetMulti: %v", err)
	}
	if len(m) != 2 || string(m["k"].Value) != "v3" || string(m["n"].Value) != "41" {
		t.Fatalf("GetMulti = %v; want k=\"v3\" and n=\"41\"", m)
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
	wantKeys(t, s, "n")
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
	// A compare-and-swap counts its expiration time from the current second.
	it := mustGet(t, c, "k")
	it.Expiration = 2
	if err := c.CompareAndSwap(it); err != nil {
		t.Fatalf("CompareAndSwap: %v", err)
	}
	clk.Set(time.Unix(base+13, 999_999_999))
	if got := mustGet(t, c, "k"); string(got.Value) != "w" {
		t.Fatalf("Get = %q; want \"w\"", got.Value)
	}
	clk.Set(time.Unix(base+14, 0))
	wantMiss(t, c, "k")

	// A CompareAndSwap on an item that expired after the Get reports a miss.
	if err := c.Add(&memcache.Item{Key: "c", Value: []byte("1"), Expiration: 1}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	it = mustGet(t, c, "c")
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

	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v"), Expiration: -1}); err != nil {
		t.Fatalf("Add with Expiration -1: %v", err)
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
}

func TestAbsoluteExpiration(t *testing.T) {
	const now = 1_700_000_100
	clk := fakeclock.New(time.Unix(now, 500_000_000))
	s := startServer(t, &Options{Now: clk.Now})
	c := newClient(t, s)

	set := func(key string, exp int32) {
		t.Helper()
		if err := c.Add(&memcache.Item{Key: key, Value: []byte("v"), Expiration: exp}); err != nil {
			t.Fatalf("Add(%q, %d): %v", key, exp, err)
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

// TestOtherCommands: a command the fake does not emulate, even one that
// memcached knows, is answered ERROR, as an unknown command; the data block
// of such a storage command is then read as a command line of its own.
func TestOtherCommands(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s.Addr())
	rc.expect("get k\r\nversion\r\nflush_all\r\ntouch k 1\r\nincr k 1\r\nstats reset\r\n", strings.Repeat("ERROR\r\n", 6))
	rc.expect("set k 0 0 1\r\nv\r\n", "ERROR\r\nERROR\r\n")
	wantKeys(t, s)
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
	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v1")}); err != nil {
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
		if _, err := c.Get("k"); !errors.Is(err, memcache.ErrCacheMiss) {
			t.Fatalf("Get %d = %v; want ErrCacheMiss", i, err)
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
	rc.expect("add a 0 0 1\r\na\r\nadd b 0 -1 1\r\nb\r\nadd c 0 5 1\r\nc\r\n", "STORED\r\nSTORED\r\nSTORED\r\n")
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
}

func TestTLS(t *testing.T) {
	tc := testcert.New(t)
	cert, pool := tc.TLS, tc.Roots
	s := startServer(t, &Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})

	c := newClient(t, s)
	dialer := &tls.Dialer{Config: &tls.Config{RootCAs: pool}}
	c.DialContext = dialer.DialContext
	wantMiss(t, c, "k")
	if err := c.Add(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Add over TLS: %v", err)
	}
	if got := mustGet(t, c, "k"); string(got.Value) != "v" {
		t.Fatalf("Get over TLS = %q; want \"v\"", got.Value)
	}

	plain := memcache.New(s.Addr())
	plain.Timeout = 5 * time.Second
	defer plain.Close()
	if _, err := plain.Get("k"); err == nil || errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("plain-text Get against a TLS server = %v; want a connection error", err)
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
				rc.expect("add k 0 0 1\r\nv\r\n", "STORED\r\n")
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

// endRequest follows each payload that roundTrip sends: an mg of a key
// that is never stored, whose reply endReply, the opaque token echoed,
// marks the end of the replies to the payload.
const (
	endRequest = "mg memcachedtest-end Oend\r\n"
	endReply   = "EN Oend\r\n"
)

// roundTrip sends payload followed by endRequest and returns what the
// server wrote before endReply; if the server hangs up first, the result
// ends in "<EOF>".
func (rc *rawConn) roundTrip(payload string) string {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(payload + endRequest)); err != nil {
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
		if line == endReply {
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

// TestMetaFaults: the faults injected by verb work on the meta commands,
// whose data block (ms) is consumed with the command.
func TestMetaFaults(t *testing.T) {
	s := startServer(t, nil)

	rc := dialRaw(t, s.Addr())
	s.DropNextReply("ms")
	if got := rc.roundTrip("ms k 1 T300\r\na\r\n"); got != "<EOF>" {
		t.Fatalf("ms with a dropped reply: %q; want the connection closed", got)
	}
	wantKeys(t, s, "k")

	rc = dialRaw(t, s.Addr())
	s.FailNext("md")
	if got := rc.roundTrip("md k\r\n"); got != "<EOF>" {
		t.Fatalf("md with a lost request: %q; want the connection closed", got)
	}
	wantKeys(t, s, "k")

	// A held ms lands just before the next one: the second compare-and-swap
	// on the same cas id then meets EX.
	rc = dialRaw(t, s.Addr())
	reply := rc.roundTrip("mg k c\r\n")
	cas := strings.TrimSuffix(strings.TrimPrefix(reply, "HD c"), "\r\n")
	s.LandLate("ms")
	if got := rc.roundTrip("ms k 1 T300 C" + cas + "\r\nb\r\n"); got != "<EOF>" {
		t.Fatalf("ms held back: %q; want the connection closed", got)
	}
	rc = dialRaw(t, s.Addr())
	rc.expect("mg k v\r\n", "VA 1\r\na\r\n")
	rc.expect("ms k 1 T300 C"+cas+"\r\nc\r\n", "EX\r\n")
	rc.expect("mg k v\r\n", "VA 1\r\nb\r\n")
}

// TestMetaNoCAS: with NoCAS, as memcached -C, the meta commands report cas
// id 0, a compare-and-swap store always meets EX, and a delete compared
// with 0 matches.
func TestMetaNoCAS(t *testing.T) {
	s := startServer(t, &Options{NoCAS: true})
	rc := dialRaw(t, s.Addr())
	rc.expect("ms k 2 T300 ME c\r\nhi\r\n", "HD c0\r\n")
	rc.expect("mg k v c\r\n", "VA 2 c0\r\nhi\r\n")
	rc.expect("ms k 2 T300 C0 c\r\nhi\r\n", "EX c0\r\n")
	rc.expect("ms k 2 T300 C1 c\r\nhi\r\n", "EX c0\r\n")
	rc.expect("md k C1\r\n", "EX\r\n")
	rc.expect("md k C0\r\n", "HD\r\n")
}

// TestRestart: a restart closes the connections, loses the items, numbers
// cas ids from 1 again and reports a new pid.
func TestRestart(t *testing.T) {
	// On a clock that stands still: uptime counts whole seconds, and a
	// real second could tick between the restart and the stats.
	s := startServer(t, &Options{Now: fakeclock.New(time.Unix(1_700_000_000, 0)).Now})
	rc := dialRaw(t, s.Addr())
	rc.expect("ms a 1\r\na\r\nms b 1 c\r\nb\r\n", "HD\r\nHD c2\r\n")
	pid := rc.stats()["pid"]
	s.Restart()
	if got := rc.roundTrip("mn\r\n"); got != "<EOF>" {
		t.Fatalf("a connection after Restart: %q; want it closed", got)
	}
	wantKeys(t, s)
	rc = dialRaw(t, s.Addr())
	rc.expect("ms c 1 c\r\nc\r\n", "HD c1\r\n")
	if st := rc.stats(); st["pid"] == pid || st["uptime"] != "0" || st["curr_items"] != "1" {
		t.Fatalf("stats after Restart: pid %s (was %s), uptime %s, curr_items %s; want a new pid, uptime 0, 1 item", st["pid"], pid, st["uptime"], st["curr_items"])
	}
}

// TestStall: a stalled server reads commands and answers none, on its
// connections and on new ones, until Resume.
func TestStall(t *testing.T) {
	s := startServer(t, nil)
	rc := dialRaw(t, s.Addr())
	s.Stall()
	rc.c.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := rc.c.Write([]byte("ms k 1\r\na\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := rc.r.ReadString('\n'); err == nil {
		t.Fatalf("a stalled server answered %q", line)
	}
	other := dialRaw(t, s.Addr())
	other.c.SetDeadline(time.Now().Add(100 * time.Millisecond))
	other.c.Write([]byte("mn\r\n"))
	if line, err := other.r.ReadString('\n'); err == nil {
		t.Fatalf("a stalled server answered a new connection: %q", line)
	}
	wantKeys(t, s)
	s.Resume()
	fresh := dialRaw(t, s.Addr())
	fresh.expect("mn\r\n", "MN\r\n")
}
