package memcached_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/fakeclock"
	"github.com/distlock/lock/internal/testcert"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/memcached"
	"github.com/distlock/lock/memcached/memcachedtest"
)

// startFake starts an in-process fake memcached, on a clock of its own when
// clock is not nil, and returns it with a client of it.
func startFake(t *testing.T, clock *fakeclock.Clock) (*memcachedtest.Server, *memcache.Client) {
	t.Helper()
	opts := &memcachedtest.Options{}
	if clock != nil {
		opts.Now = clock.Now
	}
	srv, err := memcachedtest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := memcache.New(srv.Addr())
	c.MaxIdleConns = 16
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// protocol is one of the two ways a Lock talks to memcached, with the
// command verbs of each step of its algorithms, for fault injection.
type protocol struct {
	name string
	// lock returns a Lock on srv (whose client is c) with opts, closed when
	// the test ends.
	lock func(t *testing.T, srv *memcachedtest.Server, c *memcache.Client, opts *memcached.Options) lock.Lock
	// The verbs of an acquire's add, of a read-back, and of the
	// compare-and-swap of an extend and of a release.
	add, read, extend, release string
}

var protocols = []protocol{
	{
		name: "Meta",
		lock: func(t *testing.T, srv *memcachedtest.Server, _ *memcache.Client, opts *memcached.Options) lock.Lock {
			return dialLock(t, []string{srv.Addr()}, opts)
		},
		add: "ms", read: "mg", extend: "ms", release: "md",
	},
	{
		name: "MetaFenced",
		lock: func(t *testing.T, srv *memcachedtest.Server, _ *memcache.Client, opts *memcached.Options) lock.Lock {
			o := *opts
			o.Fence = true
			return dialLock(t, []string{srv.Addr()}, &o)
		},
		add: "ms", read: "mg", extend: "ms", release: "md",
	},
	{
		name: "Classic",
		lock: func(t *testing.T, _ *memcachedtest.Server, c *memcache.Client, opts *memcached.Options) lock.Lock {
			l, err := memcached.New(c, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l
		},
		add: "add", read: "gets", extend: "cas", release: "cas",
	},
}

// forProtocols runs f as a subtest for each protocol.
func forProtocols(t *testing.T, f func(t *testing.T, p protocol)) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) { f(t, p) })
	}
}

// testOptions are the options of the tests below: a short retry interval.
func testOptions() *memcached.Options {
	return &memcached.Options{Options: lock.Options{RetryInterval: testRetry}}
}

// TestConformanceFake runs the suite on each protocol, on a fake and a
// clock of its own. A suite on a clock it moves runs its subtests one after
// another, and its keep-alive subtests sleep for seconds of real time: the
// two suites run at once, alongside the other parallel tests. They are
// subtests started together rather than parallel ones, which would wait for
// a free slot of -parallel behind the fault table's scenarios.
func TestConformanceFake(t *testing.T) {
	t.Parallel()
	// Waits of a few retry intervals, one subtest after another: a short
	// interval (the other tests keep testRetry).
	const retry = 20 * time.Millisecond
	opts := &memcached.Options{Options: lock.Options{RetryInterval: retry}}
	var wg sync.WaitGroup
	for _, p := range protocols {
		wg.Go(func() {
			t.Run(p.name, func(t *testing.T) {
				clock := fakeclock.New(time.Unix(1_800_000_000, 900_000_000)) // just before a second ticks
				srv, c := startFake(t, clock)
				locktest.Run(t, locktest.Harness{
					New:           func(t *testing.T) lock.Lock { return p.lock(t, srv, c, opts) },
					Delete:        deleteWith(c),
					Advance:       clock.Advance,
					Granularity:   3 * time.Second,
					RetryInterval: retry,
				})
			})
		})
	}
	wg.Wait()
}

// The tests below cut connections at chosen commands: the outcome of the
// command is then unknown to the client, and the backend must find it out.

func TestAddReplyLost(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		l, rival := p.lock(t, srv, c, testOptions()), p.lock(t, srv, c, testOptions())
		ctx := t.Context()
		srv.DropNextReply(p.add) // the add lands; its answer does not
		ok, err := l.TryAcquireLock(ctx, "k", time.Minute)
		if !ok || err != nil {
			t.Fatalf("TryAcquireLock with the add's reply lost = %v, %v; want true: the lock is ours", ok, err)
		}
		if ok, _ := rival.TryAcquireLock(ctx, "k", time.Minute); ok {
			t.Fatal("rival acquired a held lock")
		}
		if err := l.ReleaseLock(ctx, "k"); err != nil {
			t.Fatalf("ReleaseLock = %v; want nil", err)
		}
		if keys := lockKeys(srv); len(keys) != 0 {
			t.Fatalf("server keys after release = %q; want none", keys)
		}
	})
}

func TestAddRequestLost(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		ctx := t.Context()

		l := p.lock(t, srv, c, testOptions())

		// The lost add is read back (absent): the outcome stays unknown,
		// and the one attempt fails, reporting nothing it does not hold.
		srv.FailNext(p.add)
		if ok, err := l.TryAcquireLock(ctx, "b", time.Minute); ok || !errors.Is(err, lock.ErrUnavailable) {
			t.Fatalf("TryAcquireLock with the add lost = %v, %v; want false and an error matching lock.ErrUnavailable", ok, err)
		}

		// A wait makes its next attempt: the Lock decides the resend.
		srv.FailNext(p.add)
		if err := l.AcquireLock(ctx, "a", time.Minute, 5*time.Second); err != nil {
			t.Fatalf("AcquireLock with one add lost = %v; want nil: the wait's next attempt lands", err)
		}
		if keys := lockKeys(srv); len(keys) != 1 || keys[0] != "lock:a" {
			t.Fatalf("server keys = %q; want only lock:a", keys)
		}
	})
}

func TestAddAndReadBackLost(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		ctx := t.Context()

		// The add lands, its reply and the read-back are lost: the
		// outcome stays unknown, an error, never "acquired", and the Lock
		// releases the token it may have stored, in the background.
		l := p.lock(t, srv, c, testOptions())
		srv.DropNextReply(p.add)
		srv.FailNext(p.read)
		if ok, err := l.TryAcquireLock(ctx, "b", time.Minute); ok || !errors.Is(err, lock.ErrUnavailable) {
			t.Fatalf("TryAcquireLock with the add's reply and the read-back lost = %v, %v; want false and an error matching lock.ErrUnavailable (outcome unknown)", ok, err)
		}
		for deadline := time.Now().Add(5 * time.Second); len(lockKeys(srv)) > 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("server keys %q 5s after an acquire of unknown outcome; want its token released", lockKeys(srv))
			}
		}

		// A wait makes its next attempt, with a new token.
		srv.DropNextReply(p.add)
		srv.FailNext(p.read)
		if err := l.AcquireLock(ctx, "a", time.Minute, 5*time.Second); err != nil {
			t.Fatalf("AcquireLock with the add's reply and one read-back lost = %v; want nil", err)
		}
	})
}

// TestAddReplyLate: the add lands, and its reply comes so late that the
// client gives up (the clock moves meanwhile). The lock is reported held,
// and must then live its whole ttl counted from that report, not from when
// the add landed.
func TestAddReplyLate(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		clock := fakeclock.New(time.Unix(1_800_000_000, 900_000_000))
		srv, c := startFake(t, clock)
		l, rival := p.lock(t, srv, c, testOptions()), p.lock(t, srv, c, testOptions())
		ctx := t.Context()
		const ttl = time.Second
		srv.LateReply(p.add, func() { clock.Advance(900 * time.Millisecond) })
		if ok, err := l.TryAcquireLock(ctx, "k", ttl); !ok || err != nil {
			t.Fatalf("TryAcquireLock with a late add reply = %v, %v; want true: the lock is ours", ok, err)
		}
		clock.Advance(ttl - time.Millisecond)
		if ok, err := rival.TryAcquireLock(ctx, "k", time.Minute); ok || err != nil {
			t.Fatalf("rival TryAcquireLock %v after a %v lock was reported held = %v, %v; want false, nil", ttl-time.Millisecond, ttl, ok, err)
		}
	})
}

func TestAddLostThenTaken(t *testing.T) {
	// The add is lost and, before the retry, another owner takes the key:
	// the read-back must see the other token and answer not acquired.
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		l, other := p.lock(t, srv, c, testOptions()), p.lock(t, srv, c, testOptions())
		ctx := t.Context()
		if ok, _ := other.TryAcquireLock(ctx, "k", time.Minute); !ok {
			t.Fatal("setup: other could not acquire")
		}
		srv.FailNext(p.add)
		if ok, err := l.TryAcquireLock(ctx, "k", time.Minute); ok || err != nil {
			t.Fatalf("TryAcquireLock of a held key with the add lost = %v, %v; want false, nil", ok, err)
		}
	})
}

func TestCASReplyLost(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		l, rival := p.lock(t, srv, c, testOptions()), p.lock(t, srv, c, testOptions())
		ctx := t.Context()

		s, err := l.TryAcquire(ctx, "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		srv.DropNextReply(p.extend) // the extend lands; its answer does not
		if err := s.Extend(ctx, time.Hour); !errors.Is(err, lock.ErrUnavailable) || s.Err() != nil {
			t.Fatalf("Extend with the reply lost = %v (lease: %v); want an error matching lock.ErrUnavailable, the lease still held", err, s.Err())
		}
		if err := s.Extend(ctx, time.Hour); err != nil {
			t.Fatalf("Extend after one whose reply was lost = %v; want nil: the cas id changed, the token is ours", err)
		}
		if ok, err := rival.TryAcquireLock(ctx, "k", time.Minute); ok || err != nil {
			t.Fatalf("rival TryAcquireLock of the extended lock = %v, %v; want false, nil", ok, err)
		}
		srv.DropNextReply(p.release) // the release lands; its answer does not
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release with the reply lost = %v; want nil", err)
		}
		if ok, err := rival.TryAcquireLock(ctx, "k", time.Minute); !ok || err != nil {
			t.Fatalf("rival TryAcquireLock after release = %v, %v; want true", ok, err)
		}
	})
}

func TestCASRequestLost(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		l, rival := p.lock(t, srv, c, testOptions()), p.lock(t, srv, c, testOptions())
		ctx := t.Context()
		s, err := l.TryAcquire(ctx, "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		srv.FailNext(p.release)
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release with one request lost = %v; want nil after a retry", err)
		}
		if ok, _ := rival.TryAcquireLock(ctx, "k", time.Minute); !ok {
			t.Fatal("rival could not acquire after the release")
		}

		// A release lost at every try: the error is returned, and the
		// lease can be released again.
		none := p.lock(t, srv, c, testOptions())
		s, err = none.TryAcquire(ctx, "n", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// The Lease resends a release that fails in transit, up to
		// lock.ReleaseTries times in all; the backend never does.
		for range lock.ReleaseTries {
			srv.FailNext(p.release)
		}
		if err := s.Release(ctx); err == nil || errors.Is(err, lock.ErrNotHeld) {
			t.Fatalf("Release with every try lost = %v; want a transport error", err)
		}
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release retried by the caller = %v; want nil", err)
		}
	})
}

// TestCASLandsLate: a compare-and-swap that failed in transit and reached
// the server late changes the cas id of an item that still holds our
// token. The next extend then meets a conflict, which must be read again,
// not taken for another owner's lock.
func TestCASLandsLate(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		l, rival := p.lock(t, srv, c, testOptions()), p.lock(t, srv, c, testOptions())
		ctx := t.Context()

		s, err := l.TryAcquire(ctx, "extend", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		srv.LandLate(p.extend)
		if err := s.Extend(ctx, time.Hour); !errors.Is(err, lock.ErrUnavailable) {
			t.Fatalf("Extend whose compare-and-swap failed in transit = %v; want an error matching lock.ErrUnavailable", err)
		}
		if err := s.Extend(ctx, time.Hour); err != nil {
			t.Fatalf("Extend after one whose compare-and-swap landed late = %v; want nil", err)
		}
		if ok, err := rival.TryAcquireLock(ctx, "extend", time.Minute); ok || err != nil {
			t.Fatalf("rival TryAcquireLock of the extended lock = %v, %v; want false, nil", ok, err)
		}
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release after the late extend = %v; want nil", err)
		}

		// An add whose reply is lost is read back and its expiration
		// written again by a compare-and-swap, which lands late in turn:
		// the outcome stays unknown. The Lock releases that token in the
		// background, and a wait's next attempt, with its own, acquires.
		srv.DropNextReply(p.add)
		srv.LandLate(p.extend)
		if ok, err := l.TryAcquireLock(ctx, "acquire", time.Minute); ok || !errors.Is(err, lock.ErrUnavailable) {
			t.Fatalf("TryAcquireLock with the add's reply lost and the compare-and-swap landing late = %v, %v; want false and an error matching lock.ErrUnavailable", ok, err)
		}
		if err := l.AcquireLock(ctx, "acquire", time.Minute, 5*time.Second); err != nil {
			t.Fatalf("AcquireLock after an acquire of unknown outcome = %v; want nil", err)
		}
		if err := l.ReleaseLock(ctx, "acquire"); err != nil {
			t.Fatalf("ReleaseLock = %v; want nil", err)
		}
		if keys := lockKeys(srv); len(keys) != 0 {
			t.Fatalf("server keys after the releases = %q; want none", keys)
		}
	})
}

// TestReleaseLandsLate: a release that failed in transit lands just before
// its retry, which then finds the key gone: the lock was ours, and is
// released.
func TestReleaseLandsLate(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		l := p.lock(t, srv, c, testOptions())
		ctx := t.Context()
		s, err := l.TryAcquire(ctx, "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		srv.LandLate(p.release)
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release whose first try landed late = %v; want nil", err)
		}
		if keys := lockKeys(srv); len(keys) != 0 {
			t.Fatalf("server keys after release = %q; want none", keys)
		}
	})
}

// TestNoInjectionFake checks, on the fake whose keys can be listed, that
// keys carrying protocol text store one item each and nothing else.
func TestNoInjectionFake(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		l := p.lock(t, srv, c, testOptions())
		keys := []string{"a\r\nset x 0 0 1\r\nx", "b set y 0 0 1", "c\nflush_all\n", "d\x00", "#e", "f\r\nmd lock:a\r\n", "g ms lock:x 1 T0"}
		for _, k := range keys {
			if ok, err := l.TryAcquireLock(t.Context(), k, time.Minute); !ok || err != nil {
				t.Fatalf("TryAcquireLock(%q) = %v, %v; want true", k, ok, err)
			}
		}
		got := lockKeys(srv)
		if len(got) != len(keys) {
			t.Fatalf("server keys = %q; want %d, one per lock", got, len(keys))
		}
		for _, k := range got {
			if len(k) != len("lock:")+44 || k[:6] != "lock:#" {
				t.Errorf("server key %q; want lock:# and a hash", k)
			}
		}
	})
}

// TestServerOrder: two processes whose URLs list the same servers in
// different orders must still send each key to the same server, or both
// would hold the lock, each on its own server.
func TestServerOrder(t *testing.T) {
	a, _ := startFake(t, nil)
	b, _ := startFake(t, nil)
	ctx := t.Context()
	ab, ba := dialLock(t, []string{a.Addr(), b.Addr()}, nil), dialLock(t, []string{b.Addr(), a.Addr()}, nil)
	// A client of New agrees when made over memcached.Servers.
	selector, err := memcached.Servers(ctx, b.Addr(), a.Addr())
	if err != nil {
		t.Fatal(err)
	}
	viaNew, err := memcached.New(memcache.NewFromSelector(selector), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer viaNew.Close()
	for i := range 20 {
		key := fmt.Sprint("order-", i)
		if ok, err := ab.TryAcquireLock(ctx, key, time.Minute); !ok || err != nil {
			t.Fatalf("TryAcquireLock(%q) = %v, %v; want true", key, ok, err)
		}
		if ok, err := ba.TryAcquireLock(ctx, key, time.Minute); ok || err != nil {
			t.Fatalf("TryAcquireLock(%q) with the servers listed the other way = %v, %v; want false, nil", key, ok, err)
		}
		if ok, err := viaNew.TryAcquireLock(ctx, key, time.Minute); ok || err != nil {
			t.Fatalf("TryAcquireLock(%q) through New over Servers = %v, %v; want false, nil", key, ok, err)
		}
	}
	if len(a.Keys()) == 0 || len(b.Keys()) == 0 {
		t.Fatalf("keys on the servers: %d and %d; want both used", len(a.Keys()), len(b.Keys()))
	}
}

// TestTLSHostName: TLS verifies the server's certificate against the host
// name of the URL, not the address it resolves to.
func TestTLSHostName(t *testing.T) {
	cert := testcert.ForName(t, "localhost")
	srv, err := memcachedtest.Start(&memcachedtest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert.TLS}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(srv.Addr())
	l, err := memcached.Dial(t.Context(), []string{net.JoinHostPort("localhost", port)},
		&memcached.Options{TLS: &tls.Config{RootCAs: cert.Roots}})
	if err != nil {
		t.Fatalf("Dial over TLS to localhost with a certificate for localhost: %v", err)
	}
	defer l.Close()
	if ok, err := l.TryAcquireLock(t.Context(), "k", time.Minute); !ok || err != nil {
		t.Fatalf("TryAcquireLock over TLS = %v, %v; want true", ok, err)
	}
}

// TestNoCAS: a server without cas ids (memcached -C) cannot check an
// owner; release and extend say so instead of reporting the lock lost.
func TestNoCAS(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, err := memcachedtest.Start(&memcachedtest.Options{NoCAS: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		c := memcache.New(srv.Addr())
		t.Cleanup(func() { c.Close() })
		l := p.lock(t, srv, c, testOptions())
		s, err := l.TryAcquire(t.Context(), "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Extend(t.Context(), time.Hour); err == nil || errors.Is(err, lock.ErrNotHeld) || !strings.Contains(err.Error(), "-C") {
			t.Fatalf("Extend on memcached -C = %v; want an error naming -C", err)
		}
		if err := s.Release(t.Context()); err == nil || errors.Is(err, lock.ErrNotHeld) || !strings.Contains(err.Error(), "-C") {
			t.Fatalf("Release on memcached -C = %v; want an error naming -C", err)
		}
		if keys := lockKeys(srv); len(keys) != 1 {
			t.Fatalf("server keys = %q; want the lock left alone", keys)
		}
	})
}

// TestOpenAtInQuery: an '@' in a query value is a character like any other.
func TestOpenAtInQuery(t *testing.T) {
	srv, _ := startFake(t, nil)
	l, err := lock.Open(t.Context(), "memcached://"+srv.Addr()+"?prefix=team@app:")
	if err != nil {
		t.Fatalf("Open with prefix=team@app: = %v; want a Lock", err)
	}
	defer l.Close()
	if ok, err := l.TryAcquireLock(t.Context(), "k", time.Minute); !ok || err != nil {
		t.Fatalf("TryAcquireLock = %v, %v; want true", ok, err)
	}
	if keys := lockKeys(srv); len(keys) != 1 || keys[0] != "team@app:k" {
		t.Fatalf("keys on the server = %q; want [team@app:k]", keys)
	}
}

// TestFailedAcquireNotOrphaned: an add lands but its reply, and every
// command for a while after it, is lost, so the acquire fails with its
// outcome unknown. The Lock's background release must keep trying through
// the fault, so the key is free soon after it heals, not at the ttl's end.
func TestFailedAcquireNotOrphaned(t *testing.T) {
	forProtocols(t, func(t *testing.T, p protocol) {
		srv, c := startFake(t, nil)
		l := p.lock(t, srv, c, testOptions()) // no retries in the backend: the call fails
		srv.DropNextReply(p.add)
		for range 4 { // the read-back, then the first background releases
			srv.FailNext(p.read)
		}
		if ok, err := l.TryAcquireLock(t.Context(), "k", time.Minute); ok || err == nil {
			t.Fatalf("TryAcquireLock in a fault = %v, %v; want false and an error", ok, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(lockKeys(srv)) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("server keys 5s after a failed acquire = %q; want the lock it left released", lockKeys(srv))
			}
			time.Sleep(10 * time.Millisecond) // the release runs in the background: nothing to wait on
		}
	})
}

// TestInterop: Locks of the two protocols, on the same servers, store the
// same keys and values and exclude each other.
func TestInterop(t *testing.T) {
	srv, c := startFake(t, nil)
	interop(t, c, dialLock(t, []string{srv.Addr()}, nil), newLock(t, c))
}

// interop checks, with c a client of the servers of both Locks, that meta
// and classic exclude each other and store the same item.
func interop(t *testing.T, c *memcache.Client, meta, classic lock.Lock) {
	t.Helper()
	ctx := t.Context()
	key := fmt.Sprintf("interop-%d", time.Now().UnixNano())
	s, err := meta.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatalf("meta TryAcquire = %v", err)
	}
	item, err := c.Get(memcached.DefaultPrefix + key)
	if err != nil || string(item.Value) != s.Token() || item.Flags != 0 {
		t.Fatalf("item of a meta lock = %+v, %v; want the token %q with flags 0", item, err, s.Token())
	}
	if ok, err := classic.TryAcquireLock(ctx, key, time.Minute); ok || err != nil {
		t.Fatalf("classic TryAcquireLock of a meta lock = %v, %v; want false, nil", ok, err)
	}
	if err := s.Release(ctx); err != nil {
		t.Fatalf("meta Release = %v", err)
	}
	cs, err := classic.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatalf("classic TryAcquire after the meta release = %v", err)
	}
	if ok, err := meta.TryAcquireLock(ctx, key, time.Minute); ok || err != nil {
		t.Fatalf("meta TryAcquireLock of a classic lock = %v, %v; want false, nil", ok, err)
	}
	if err := cs.Extend(ctx, time.Minute); err != nil {
		t.Fatalf("classic Extend = %v", err)
	}
	if err := cs.Release(ctx); err != nil {
		t.Fatalf("classic Release = %v", err)
	}
	if ok, err := meta.TryAcquireLock(ctx, key, time.Minute); !ok || err != nil {
		t.Fatalf("meta TryAcquireLock after the classic release = %v, %v; want true", ok, err)
	}
	if err := meta.ReleaseLock(ctx, key); err != nil {
		t.Fatalf("meta ReleaseLock = %v", err)
	}
}

// TestMostSends: the backend sends each command once, and the Lock decides
// every resend: with every command of its kind failing in transit, one
// TryAcquireLock sends one add, and one Release lock.ReleaseTries
// compare-and-swaps (deletes, over the meta protocol).
func TestMostSends(t *testing.T) {
	const faults = 10
	forProtocols(t, func(t *testing.T, p protocol) {
		ctx := t.Context()
		srv, c := startFake(t, nil)
		l := p.lock(t, srv, c, testOptions())
		for range faults {
			srv.FailNext(p.add)
		}
		if ok, err := l.TryAcquireLock(ctx, "a", time.Minute); ok || !errors.Is(err, lock.ErrUnavailable) {
			t.Fatalf("TryAcquireLock with every add lost = %v, %v; want false and ErrUnavailable", ok, err)
		}
		if n := faults - srv.Faults(p.add); n != 1 {
			t.Errorf("TryAcquireLock with every add lost sent %d %q; want 1", n, p.add)
		}

		srv, c = startFake(t, nil)
		l = p.lock(t, srv, c, testOptions())
		s, err := l.TryAcquire(ctx, "r", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for range faults {
			srv.FailNext(p.release)
		}
		if err := s.Release(ctx); !errors.Is(err, lock.ErrUnavailable) {
			t.Fatalf("Release with every try lost = %v; want ErrUnavailable", err)
		}
		if n := faults - srv.Faults(p.release); n != lock.ReleaseTries {
			t.Errorf("Release with every try lost sent %d %q; want lock.ReleaseTries, %d", n, p.release, lock.ReleaseTries)
		}
	})
}

// lockKeys returns the keys of srv that are locks, leaving out the fence
// counters that fenced Locks keep beside them (their keys start with "#f:"
// or "#:" after the prefix, which no lock key does; the tests' prefixes
// end in a colon).
func lockKeys(srv *memcachedtest.Server) []string {
	var keys []string
	for _, k := range srv.Keys() {
		if !strings.Contains(k, ":#f:") && !strings.Contains(k, ":#:") {
			keys = append(keys, k)
		}
	}
	return keys
}
