package memcached_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/driver"
	"github.com/distlock/lock/internal/fakeclock"
	"github.com/distlock/lock/memcached"
	"github.com/distlock/lock/memcached/memcachedtest"
)

// fencedOptions are the test options with fencing tokens.
func fencedOptions() *memcached.Options {
	o := testOptions()
	o.Fence = true
	return o
}

// fenceOf acquires key through l and returns the lease's fencing token,
// failing the test unless it is above last. It waits (a free key takes one
// attempt), so that a connection a restart closed, which the first command
// after it may find closed, is retried.
func fenceOf(t *testing.T, l lock.Lock, key string, last uint64) (*lock.Lease, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := l.Acquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatalf("Acquire(%q) = %v; want a lease", key, err)
	}
	f, ok := s.Fence()
	if !ok || f <= last {
		t.Fatalf("Fence() of an acquisition of %q = %d, %v; want above the last, %d", key, f, ok, last)
	}
	return s, f
}

// cycleFences acquires and releases key through l n times, and returns the
// last fencing token, checking that each is above the one before (the
// first above last).
func cycleFences(t *testing.T, l lock.Lock, key string, n int, last uint64) uint64 {
	t.Helper()
	for range n {
		var s *lock.Lease
		s, last = fenceOf(t, l, key, last)
		if err := s.Release(t.Context()); err != nil {
			t.Fatalf("Release() = %v", err)
		}
	}
	return last
}

// TestFenceNeedsMeta: New, over gomemcache, has no way to read the
// server's clock, and refuses Fence with an error that says what to use.
func TestFenceNeedsMeta(t *testing.T) {
	_, c := startFake(t, nil)
	l, err := memcached.New(c, fencedOptions())
	if err == nil {
		l.Close()
		t.Fatal("New with Fence = a Lock; want an error")
	}
	for _, want := range []string{"meta protocol", "Dial", "URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New with Fence: error %q; want one that mentions %q", err, want)
		}
	}
}

// TestFenceURL: fence=true in a URL gives fencing tokens, and its absence
// none.
func TestFenceURL(t *testing.T) {
	srv, _ := startFake(t, nil)
	for _, tc := range []struct {
		query  string
		fenced bool
	}{{"?fence=true", true}, {"", false}, {"?fence=false", false}} {
		l, err := lock.Open(t.Context(), "memcached://"+srv.Addr()+tc.query)
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.TryAcquire(t.Context(), "url"+tc.query, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Fence(); ok != tc.fenced {
			t.Errorf("URL with %q: Fence() reports %v; want %v", tc.query, ok, tc.fenced)
		}
		l.Close()
	}
}

// writeCounter counts the writes to the connections it dials.
type writeCounter struct {
	net.Conn
	n *atomic.Int64
}

func (c writeCounter) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

// TestFenceOneRoundTrip: an uncontended fenced acquire is one write (the
// add and the increment together) and one read of their replies: the
// server's clock is read only when the counter is missing, the first time.
func TestFenceOneRoundTrip(t *testing.T) {
	srv, _ := startFake(t, nil)
	var writes atomic.Int64
	dial := wrapDial(func(c net.Conn) net.Conn { return writeCounter{c, &writes} })
	l, err := memcached.DialWith(t.Context(), []string{srv.Addr()}, fencedOptions(), dial)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	last := cycleFences(t, l, "k", 1, 0) // the counter is made: its clock read
	for range 3 {
		before := writes.Load()
		var s *lock.Lease
		s, last = fenceOf(t, l, "k", last)
		if n := writes.Load() - before; n != 1 {
			t.Errorf("an uncontended fenced acquire wrote %d times; want once, the add and the increment together", n)
		}
		if err := s.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFenceAcrossRestart: a restart of the server loses the locks and
// their counters; the counter comes back from the server's clock, above
// every token handed out before, once the clock has moved on a second
// from when the counter was made (memcached's clock counts seconds).
func TestFenceAcrossRestart(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_800_000_000, 500_000_000))
	srv, _ := startFake(t, clock)
	l := dialLock(t, []string{srv.Addr()}, fencedOptions())
	last := cycleFences(t, l, "k", 3, 0)
	if want := uint64(1_800_000_001_000_000); last < want {
		t.Fatalf("fence of a counter made at second 1800000000 = %d; want at least %d", last, want)
	}
	for range 3 {
		clock.Advance(time.Second)
		srv.Restart()
		last = cycleFences(t, l, "k", 3, last)
	}
}

// TestFenceCounterLost: a counter lost on its own (evicted or expired, as
// deleting it here stands for) comes back above the tokens handed out
// before, once the server's clock has moved on a second; a counter that
// is there is incremented, whatever the clock says.
func TestFenceCounterLost(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_800_000_000, 0))
	srv, c := startFake(t, clock)
	l := dialLock(t, []string{srv.Addr()}, fencedOptions())
	last := cycleFences(t, l, "k", 2, 0)
	clock.Set(time.Unix(1_800_000_000-3600, 0)) // back an hour: a counter that is there does not care
	last = cycleFences(t, l, "k", 2, last)
	clock.Set(time.Unix(1_800_000_001, 0))
	if err := c.Delete("lock:#f:k"); err != nil {
		t.Fatalf("deleting the counter: %v", err)
	}
	cycleFences(t, l, "k", 2, last)
}

// TestFenceReplyLost: when the reply of the add, or of the increment, is
// lost (or the increment never runs), the lock is read back and the fence
// is the counter's next value: above the fences before, below those after.
// A resend of an acquire that landed, with the same token, gets the fence
// the first was given.
func TestFenceReplyLost(t *testing.T) {
	srv, _ := startFake(t, nil)
	l := dialLock(t, []string{srv.Addr()}, fencedOptions())
	last := cycleFences(t, l, "k", 1, 0)
	for _, fault := range []func(){
		func() { srv.DropNextReply("ms") }, // the add lands, the increment never runs
		func() { srv.DropNextReply("ma") }, // both land, the increment's reply is lost
		func() { srv.FailNext("ma") },      // the add lands, the increment is lost
	} {
		fault()
		last = cycleFences(t, l, "k", 1, last)
		if n := srv.Faults("ms") + srv.Faults("ma"); n != 0 {
			t.Fatalf("%d faults not met; want the acquire to meet its fault", n)
		}
		last = cycleFences(t, l, "k", 1, last)
	}

	fencer := lock.Driver(l).(driver.Fencer)
	ok, first, err := fencer.AcquireFenced(t.Context(), "resent", "token-of-the-test-000000000", time.Minute)
	if !ok || err != nil || first == 0 {
		t.Fatalf("AcquireFenced = %v, %d, %v; want true and a fence", ok, first, err)
	}
	srv.FailNext("ms") // the resend's add is lost: the lock is read back
	ok, again, err := fencer.AcquireFenced(t.Context(), "resent", "token-of-the-test-000000000", time.Minute)
	if !ok || err != nil || again != first {
		t.Fatalf("AcquireFenced resent with the token that holds the key, its add lost = %v, %d, %v; want true and the first fence, %d", ok, again, err, first)
	}
}

// TestFenceAcrossRestartReal is TestFenceAcrossRestart on a memcached
// process of LOCK_TEST_MEMCACHED_BIN, killed and started again on its
// port. Before each restart it waits until the server's clock has moved on
// two seconds from when the counter was made: memcached's clock counts
// whole seconds, and a process started anew may read up to a second behind
// the one it replaces.
func TestFenceAcrossRestartReal(t *testing.T) {
	addr, restart := startMemcached(t, "-m", "16")
	l := dialLock(t, []string{addr}, fencedOptions())
	var last uint64
	for i := range 3 {
		last = cycleFences(t, l, "k", 3, last)
		made := serverTime(t, addr) // at or after the counter was made
		for serverTime(t, addr) < made+2 {
			time.Sleep(50 * time.Millisecond) // the server's clock ticks once a second
		}
		if i < 2 {
			restart()
		}
	}
}

// serverTime returns the clock of the server at addr, in Unix seconds, as
// "stats" reports it.
func serverTime(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprint(c, "stats\r\n"); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() && sc.Text() != "END" {
		if v, ok := strings.CutPrefix(sc.Text(), "STAT time "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("stats: time %q", v)
			}
			return n
		}
	}
	t.Fatalf("stats of %s: no time (%v)", addr, sc.Err())
	return 0
}

// TestFenceFakeClock: the fake's stats report its clock, which a fenced
// Lock makes its counters from.
func TestFenceFakeClock(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_234_567_890, 0))
	srv, err := memcachedtest.Start(&memcachedtest.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if got := serverTime(t, srv.Addr()); got != 1_234_567_890 {
		t.Errorf("stats time = %d; want the fake's clock, 1234567890", got)
	}
	l := dialLock(t, []string{srv.Addr()}, fencedOptions())
	_, f := fenceOf(t, l, "k", 0)
	if want := uint64(1_234_567_891_000_000); f != want {
		t.Errorf("fence of a new counter = %d; want (time+1)*1e6, %d", f, want)
	}
}
