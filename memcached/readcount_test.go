package memcached_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memcached"
	"github.com/distlock/lock/memcached/memcachedtest"
)

// The package doc promises, of the meta protocol, that a release sends
// each delete ("md") after at most one read ("mg", of the cas id), and an
// extend likewise its swap ("ms"). The test below counts the commands on
// the paths where the cas id the Lock remembers is of no use: after a
// restart of the server (a cas id of another process), after an extend
// whose reply was lost (a stale cas id), and with every delete of a
// release lost in transit after a restart (each try reads anew).

// verbLog records the commands written on the connections it wraps, in
// the order they were sent: the verb and the key of each.
type verbLog struct {
	mu   sync.Mutex
	cmds [][2]string
}

// wrap records the commands written on c.
func (v *verbLog) wrap(c net.Conn) net.Conn { return &verbConn{Conn: c, log: v} }

// take returns the verbs of the commands on key recorded since the last
// take, and forgets them all. (A call on another key, such as the
// background release of an acquire that failed in transit, may send
// commands meanwhile.)
func (v *verbLog) take(key string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var verbs []string
	for _, c := range v.cmds {
		if c[1] == key {
			verbs = append(verbs, c[0])
		}
	}
	v.cmds = nil
	return verbs
}

// verbConn parses the commands written on it: lines, each but a storage
// command's ("ms <key> <n> ...") followed by a data block of n bytes and
// "\r\n", which it skips.
type verbConn struct {
	net.Conn
	log *verbLog
	mu  sync.Mutex
	buf []byte
}

func (c *verbConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf = append(c.buf, p...)
	for {
		i := bytes.Index(c.buf, []byte("\r\n"))
		if i < 0 {
			break
		}
		toks := strings.Fields(string(c.buf[:i]))
		end := i + 2
		if len(toks) >= 3 && toks[0] == "ms" {
			n, err := strconv.Atoi(toks[2])
			if err != nil {
				n = 0
			}
			if len(c.buf) < end+n+2 {
				break // the data block is still to come
			}
			end += n + 2
		}
		c.buf = c.buf[end:]
		if len(toks) > 0 {
			cmd := [2]string{toks[0], ""}
			if len(toks) > 1 {
				cmd[1] = toks[1]
			}
			c.log.mu.Lock()
			c.log.cmds = append(c.log.cmds, cmd)
			c.log.mu.Unlock()
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// readsPerWrite checks verbs, the commands of one call in the order sent:
// each write (the verb write) comes after at most one read ("mg") since
// the call began or since the write before it, and the call does not end
// on more than one read either. It returns the writes and the reads.
func readsPerWrite(verbs []string, write string) (writes, reads int, err error) {
	since := 0
	for _, v := range verbs {
		switch v {
		case "mg":
			reads++
			since++
		case write:
			if since > 1 {
				return writes, reads, fmt.Errorf("%q sent after %d reads (\"mg\") in a row; want at most one (commands: %q)", write, since, verbs)
			}
			writes++
			since = 0
		}
	}
	if since > 1 {
		return writes, reads, fmt.Errorf("%d reads (\"mg\") in a row after the last %q; want at most one (commands: %q)", since, write, verbs)
	}
	return writes, reads, nil
}

// TestReadsPerWriteCheck: the check above catches a second read before a
// write, which is what TestOneReadPerWrite relies on.
func TestReadsPerWriteCheck(t *testing.T) {
	for _, tc := range []struct {
		verbs         []string
		writes, reads int
		fails         bool
	}{
		{verbs: []string{"stats", "mg", "md"}, writes: 1, reads: 1},
		{verbs: []string{"md", "mg", "md", "mg", "md", "mg"}, writes: 3, reads: 3},
		{verbs: []string{"mg", "mg", "md"}, fails: true},
		{verbs: []string{"md", "mg", "stats", "mg", "md"}, fails: true},
		{verbs: []string{"mg", "md", "mg", "mg"}, fails: true},
	} {
		writes, reads, err := readsPerWrite(tc.verbs, "md")
		switch {
		case tc.fails && err == nil:
			t.Errorf("readsPerWrite(%q) = nil; want an error", tc.verbs)
		case !tc.fails && (err != nil || writes != tc.writes || reads != tc.reads):
			t.Errorf("readsPerWrite(%q) = %d, %d, %v; want %d, %d, nil", tc.verbs, writes, reads, err, tc.writes, tc.reads)
		}
	}
}

// TestOneReadPerWrite: on the meta protocol, fenced or not, a release or
// an extend whose cas id is unknown or stale reads it once before each of
// its writes.
func TestOneReadPerWrite(t *testing.T) {
	for _, fence := range []bool{false, true} {
		name := "Meta"
		if fence {
			name = "MetaFenced"
		}
		t.Run(name, func(t *testing.T) {
			// setup returns a fake, the log of the commands of a Lock on
			// it, and the Lock's leases of "r" (to release) and "e" (to
			// extend).
			setup := func(t *testing.T) (*memcachedtest.Server, *verbLog, lock.Lock, *lock.Lease, *lock.Lease) {
				srv, _ := startFake(t, nil)
				var log verbLog
				l, err := memcached.DialWith(t.Context(), []string{srv.Addr()}, &memcached.Options{Fence: fence}, wrapDial(log.wrap))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				r, err := l.TryAcquire(t.Context(), "r", time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				e, err := l.TryAcquire(t.Context(), "e", time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				return srv, &log, l, r, e
			}
			// restart restarts srv, stores the tokens of the leases again
			// (new cas ids, of a new server process), and lets l connect
			// again, so that what is counted after is the leases' calls.
			restart := func(t *testing.T, srv *memcachedtest.Server, l lock.Lock, leases ...*lock.Lease) {
				srv.Restart()
				c := memcache.New(srv.Addr())
				defer c.Close()
				for _, s := range leases {
					if err := c.Add(&memcache.Item{Key: memcached.DefaultPrefix + s.Key(), Value: []byte(s.Token()), Expiration: 60}); err != nil {
						t.Fatal(err)
					}
				}
				// The first call may meet a connection the restart closed.
				for try := 1; ; try++ {
					ok, err := l.TryAcquireLock(t.Context(), "warm", time.Minute)
					if ok && err == nil {
						break
					}
					if try == 3 || !errors.Is(err, lock.ErrUnavailable) {
						t.Fatalf("TryAcquireLock after the restart, try %d = %v, %v", try, ok, err)
					}
				}
			}
			// check runs op, and checks the commands it sent: at most
			// one read before each write, reads at all (the cas id was
			// not known), and want writes.
			check := func(t *testing.T, log *verbLog, s *lock.Lease, what, write string, want int, op func() error, wantErr error) {
				t.Helper()
				key := memcached.DefaultPrefix + s.Key()
				log.take(key)
				err := op()
				verbs := log.take(key)
				if !errors.Is(err, wantErr) {
					t.Errorf("%s = %v; want %v", what, err, wantErr)
				}
				writes, reads, err := readsPerWrite(verbs, write)
				switch {
				case err != nil:
					t.Errorf("%s: %v", what, err)
				case writes != want || reads == 0:
					t.Errorf("%s sent %d %q and %d reads (commands: %q); want %d %q, each after a read of the cas id", what, writes, write, reads, verbs, want, write)
				}
			}

			t.Run("Restart", func(t *testing.T) {
				srv, log, l, r, e := setup(t)
				restart(t, srv, l, r, e)
				check(t, log, r, "Release after a restart", "md", 1, func() error { return r.Release(t.Context()) }, nil)
				check(t, log, e, "Extend after a restart", "ms", 1, func() error { return e.Extend(t.Context(), time.Minute) }, nil)
			})
			t.Run("ExtendReplyLost", func(t *testing.T) {
				srv, log, _, r, e := setup(t)
				for _, s := range []*lock.Lease{r, e} {
					srv.DropNextReply("ms") // the extend lands: the cas id the Lock knows is stale
					if err := s.Extend(t.Context(), time.Minute); err == nil {
						t.Fatal("Extend with its reply lost succeeded; want an error")
					}
				}
				// The stale cas id first, then a read, then the cas id read.
				check(t, log, r, "Release after an extend whose reply was lost", "md", 2, func() error { return r.Release(t.Context()) }, nil)
				check(t, log, e, "Extend after an extend whose reply was lost", "ms", 2, func() error { return e.Extend(t.Context(), time.Minute) }, nil)
			})
			t.Run("RestartEveryDeleteLost", func(t *testing.T) {
				srv, log, l, r, _ := setup(t)
				restart(t, srv, l, r)
				for range lock.ReleaseTries {
					srv.FailNext("md")
				}
				check(t, log, r, "Release after a restart, every delete lost", "md", lock.ReleaseTries, func() error { return r.Release(t.Context()) }, lock.ErrUnavailable)
			})
		})
	}
}
