package memcached_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/fakeclock"
	"github.com/distlock/lock/locktest/faultproxy"
	"github.com/distlock/lock/memcached"
)

// The tests of this file cut exactly the reply of one release or extend: its
// command lands on the server, and its sender learns nothing of it and
// sends it again. A retry that finds the key free, or taken since by
// another owner, must not report the lock lost: the first try released it.

// cutServer is a server that the reply-cut and fault tests run on.
type cutServer struct {
	name string
	addr string
}

// cutServers returns the fake, and the first server of
// LOCK_TEST_MEMCACHED_URL when it is set (failing the test if it does not
// answer).
func cutServers(t *testing.T) []cutServer {
	t.Helper()
	srv, _ := startFake(t, nil)
	servers := []cutServer{{name: "fake", addr: srv.Addr()}}
	if os.Getenv("LOCK_TEST_MEMCACHED_URL") != "" {
		realClient(t) // configured: it must answer
		servers = append(servers, cutServer{name: "real", addr: realServers(t)[0]})
	}
	return servers
}

// uniquePrefix returns a key prefix no other test uses, on a shared server.
func uniquePrefix(name string) string {
	return name + "-" + rand.Text()[:10] + ":"
}

// dialVia returns a Lock made by Dial on addr with prefix and the default
// settings otherwise, closed when the test ends.
func dialVia(t *testing.T, addr, prefix string) lock.Lock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := memcached.Dial(ctx, []string{addr}, &memcached.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("memcached.Dial(%s): %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// peek reads key on the server at addr directly, with "mg <key> v t": the
// token stored ("" for none) and its remaining lifetime in seconds (-1 for
// none).
func peek(addr, key string) (token string, ttl int, err error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "mg %s v t\r\n", key); err != nil {
		return "", 0, err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", 0, err
	}
	fields := strings.Fields(line)
	switch {
	case len(fields) == 1 && fields[0] == "EN":
		return "", 0, nil
	case len(fields) < 3 || fields[0] != "VA" || !strings.HasPrefix(fields[2], "t"):
		return "", 0, fmt.Errorf("mg %s: unexpected reply %q", key, line)
	}
	n, err := strconv.Atoi(fields[1])
	if err != nil {
		return "", 0, fmt.Errorf("mg %s: unexpected reply %q", key, line)
	}
	if ttl, err = strconv.Atoi(fields[2][1:]); err != nil {
		return "", 0, fmt.Errorf("mg %s: unexpected reply %q", key, line)
	}
	v := make([]byte, n+2)
	if _, err := io.ReadFull(r, v); err != nil {
		return "", 0, err
	}
	return string(v[:n]), ttl, nil
}

// startCutProxy starts a proxy in front of addr, closed when the test ends.
func startCutProxy(t *testing.T, addr string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestReleaseReplyCut: the reply of a release (md) is cut, so the Lock
// sends it again, and the retry finds the key free, or, when another owner
// took the key in between, held by that owner. Either way the release
// landed: Release must return nil, not ErrNotHeld, and the other owner's
// lock must stand.
func TestReleaseReplyCut(t *testing.T) {
	for _, srv := range cutServers(t) {
		for _, taken := range []bool{false, true} {
			name := srv.name + "/KeyFree"
			if taken {
				name = srv.name + "/KeyTaken"
			}
			t.Run(name, func(t *testing.T) {
				prefix := uniquePrefix("cut-release")
				p := startCutProxy(t, srv.addr)
				l := dialVia(t, p.Addr(), prefix)
				rival := dialVia(t, srv.addr, prefix) // straight to the server
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				s, err := l.TryAcquire(ctx, "k", 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				var (
					rivalLease *lock.Lease
					rivalErr   = errors.New("the rival did not try")
				)
				var meanwhile func()
				if taken {
					meanwhile = func() { rivalLease, rivalErr = rival.TryAcquire(ctx, "k", 10*time.Second) }
				}
				p.CutNextReplyThen(0, meanwhile)
				if err := s.Release(ctx); err != nil {
					t.Errorf("Release with its reply cut (key taken by another owner meanwhile: %v) = %v; want nil: the release landed", taken, err)
				}
				if n := p.Stats().Cuts; n != 1 {
					t.Errorf("replies cut = %d; want 1", n)
				}
				got, _, err := peek(srv.addr, prefix+"k")
				switch {
				case err != nil:
					t.Errorf("reading the key directly: %v", err)
				case !taken && got != "":
					t.Errorf("server holds %q after the release; want nothing", got)
				case taken && rivalErr != nil:
					t.Errorf("rival TryAcquire after the release landed = %v; want a lease", rivalErr)
				case taken && got != rivalLease.Token():
					t.Errorf("server holds %q; want the rival's token %q: its lock must stand", got, rivalLease.Token())
				}
				if rivalLease != nil {
					if err := rivalLease.Release(ctx); err != nil {
						t.Errorf("rival Release = %v; want nil", err)
					}
				}
			})
		}
	}
}

// TestExtendReplyCut: the reply of an extend (ms C<cas>) is cut, so the
// extend's outcome is unknown (an error, the lease kept) and the cas id the
// Lock knows is stale at the next extend: that one must read the item,
// find its token, and extend on the new cas id, not report the lock lost.
// A rival trying the key meanwhile must not get it.
func TestExtendReplyCut(t *testing.T) {
	for _, srv := range cutServers(t) {
		t.Run(srv.name, func(t *testing.T) {
			prefix := uniquePrefix("cut-extend")
			p := startCutProxy(t, srv.addr)
			l := dialVia(t, p.Addr(), prefix)
			rival := dialVia(t, srv.addr, prefix)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := l.TryAcquire(ctx, "k", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var (
				rivalOK  bool
				rivalErr = errors.New("the rival did not try")
			)
			p.CutNextReplyThen(0, func() { rivalOK, rivalErr = rival.TryAcquireLock(ctx, "k", 10*time.Second) })
			if err := s.Extend(ctx, time.Minute); !errors.Is(err, lock.ErrUnavailable) || s.Err() != nil {
				t.Errorf("Extend with its reply cut = %v (lease: %v); want an error matching lock.ErrUnavailable, the lease kept", err, s.Err())
			}
			if err := s.Extend(ctx, time.Minute); err != nil {
				t.Errorf("Extend after one whose reply was cut = %v; want nil: the extend landed, and the lock is ours", err)
			}
			if rivalOK || rivalErr != nil {
				t.Errorf("rival TryAcquireLock of the lock being extended = %v, %v; want false, nil", rivalOK, rivalErr)
			}
			switch got, ttl, err := peek(srv.addr, prefix+"k"); {
			case err != nil:
				t.Errorf("reading the key directly: %v", err)
			case got != s.Token():
				t.Errorf("server holds %q after the extend; want the lease's token", got)
			case ttl <= 10:
				t.Errorf("server's ttl %ds after Extend(1m); want more than the 10s acquired", ttl)
			}
			if err := s.Release(ctx); err != nil {
				t.Errorf("Release after the extend = %v; want nil", err)
			}
			if got, _, _ := peek(srv.addr, prefix+"k"); got != "" {
				t.Errorf("server holds %q after the release; want nothing", got)
			}
		})
	}
}

// TestReleaseReplyLostKeyTaken is the KeyTaken case of TestReleaseReplyCut
// for both protocols, on the fake: the release's compare-and-swap (md, or
// cas with an expiration in the past) lands, another owner takes the key
// before the reply would have come, and the connection closes.
func TestReleaseReplyLostKeyTaken(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		l, rival := p.lock(t, srv, c, testOptions()), p.lock(t, srv, c, testOptions())
		ctx := t.Context()
		s, err := l.TryAcquire(ctx, "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var (
			rivalOK  bool
			rivalErr = errors.New("the rival did not try")
		)
		srv.LateReply(p.release, func() {
			rivalOK, rivalErr = rival.TryAcquireLock(context.Background(), "k", time.Minute)
		})
		if err := s.Release(ctx); err != nil {
			t.Errorf("Release whose reply was lost, the key taken meanwhile = %v; want nil: the release landed", err)
		}
		if !rivalOK || rivalErr != nil {
			t.Fatalf("rival TryAcquireLock after the release landed = %v, %v; want true", rivalOK, rivalErr)
		}
		if ok, err := l.TryAcquireLock(ctx, "k", time.Minute); ok || err != nil {
			t.Errorf("TryAcquireLock of the rival's lock = %v, %v; want false, nil: it must stand", ok, err)
		}
		if keys := lockKeys(srv); len(keys) != 1 {
			t.Errorf("server keys = %q; want the rival's lock", keys)
		}
	})
}

// TestReleaseReplyLostAfterDeadline checks the other side of the rule
// above: a release sent after the lease's deadline, whose reply is lost,
// and that then finds the key another owner's, says ErrNotHeld. The lock
// expired: another owner could have taken it without our release landing.
func TestReleaseReplyLostAfterDeadline(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		t.Parallel() // each on a fake and a clock of its own, waiting out a real-time deadline
		clock := fakeclock.New(time.Unix(1_800_000_000, 0))
		srv, c := startFake(t, clock)
		l, rival := p.lock(t, srv, c, testOptions()), p.lock(t, srv, c, testOptions())
		ctx := t.Context()
		s, err := l.TryAcquire(ctx, "k", 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(3 * time.Second) // the server lets the lock expire
		if ok, err := rival.TryAcquireLock(ctx, "k", time.Minute); !ok || err != nil {
			t.Fatalf("rival TryAcquireLock after the expiry = %v, %v; want true", ok, err)
		}
		// The lease's own deadline is on real time: let it pass.
		<-time.After(time.Until(s.Deadline()) + 10*time.Millisecond)
		srv.DropNextReply(p.release)
		if err := s.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Release after the deadline, reply lost, key another owner's = %v; want ErrNotHeld", err)
		}
		if keys := lockKeys(srv); len(keys) != 1 {
			t.Errorf("server keys = %q; want the rival's lock", keys)
		}
	})
}
