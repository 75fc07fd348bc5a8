package redis_test

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/distlock/lock/internal/testpar"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/redis"
)

// TestMain silences go-redis's own log of failed dials (the tests of
// unreachable servers provoke many); each test reports what it saw. It
// then runs the tests and fails the package if any goroutine outlives
// them (a Lock or client not closed, a keep-alive not stopped).
func TestMain(m *testing.M) {
	goredis.SetLogger(quietLogger{})
	flag.Parse()
	testpar.Raise("LOCK_TEST_REDIS_URL", "LOCK_TEST_REDIS_CLUSTER_URL", "LOCK_TEST_REDIS_SENTINEL_URL")
	goleak.VerifyTestMain(m)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// testRetry is the retry interval of the test Locks: small, so waits are
// quick.
const testRetry = 20 * time.Millisecond

var testOpts = &redis.Options{Options: lock.Options{RetryInterval: testRetry}}

// granularity is how much longer than its ttl a lock may live: the expiry
// sent is the ttl rounded up plus one millisecond, and redis keeps time in
// whole milliseconds (see the package doc).
const granularity = 3 * time.Millisecond

// mini starts a miniredis for the test and returns it with a client.
func mini(t testing.TB) (*miniredis.Miniredis, *goredis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	c := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { c.Close() })
	return mr, c
}

// realURL returns LOCK_TEST_REDIS_URL, or skips the test when it is not set.
func realURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv("LOCK_TEST_REDIS_URL")
	if raw == "" {
		t.Skip("LOCK_TEST_REDIS_URL not set")
	}
	return raw
}

// realClient returns a client of the real server of LOCK_TEST_REDIS_URL,
// failing the test when the server is configured but does not answer.
func realClient(t testing.TB) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(realURL(t))
	if err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL: %v", err)
	}
	o.PoolSize = 64
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL is set but the server does not answer: %v", err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestConformanceMiniredis(t *testing.T) {
	t.Parallel() // a miniredis of its own; the suite's keep-alive subtests sleep on real time
	mr, c := mini(t)
	locktest.Run(t, locktest.Harness{
		New:           func(t *testing.T) lock.Lock { return mustNew(t, c, testOpts) },
		Delete:        deleteWith(c, redis.DefaultPrefix),
		Advance:       mr.FastForward,
		Granularity:   granularity,
		RetryInterval: testRetry,
	})
}

// deleteWith returns a locktest Delete hook that deletes prefix+key with c.
func deleteWith(c goredis.UniversalClient, prefix string) func(*testing.T, string) {
	return func(t *testing.T, key string) {
		if err := c.Del(context.Background(), prefix+key).Err(); err != nil {
			t.Fatalf("deleting %q behind its holder's back: %v", key, err)
		}
	}
}

func TestConformanceReal(t *testing.T) {
	c := realClient(t)
	h := realHarness(func(t *testing.T) lock.Lock { return mustNew(t, c, testOpts) })
	h.Delete = deleteWith(c, redis.DefaultPrefix)
	locktest.Run(t, h)
}

// TestConformanceRealOpen runs the suite on Lock values opened by URL, whose client
// is its own.
func TestConformanceRealOpen(t *testing.T) {
	u, err := url.Parse(realURL(t))
	if err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL: %v", err)
	}
	q := u.Query()
	q.Set("retry_interval", "20ms")
	q.Set("prefix", "lock-open:")
	u.RawQuery = q.Encode()
	c := realClient(t)
	locktest.Run(t, locktest.Harness{
		New: func(t *testing.T) lock.Lock {
			l, err := lock.Open(ctxT(t), u.String())
			if err != nil {
				t.Fatalf("lock.Open: %v", err)
			}
			return l
		},
		Delete:        deleteWith(c, "lock-open:"),
		Granularity:   granularity,
		TTL:           200 * time.Millisecond,
		RetryInterval: testRetry,
	})
}

// replyError is an error reply of a server, as go-redis reports one.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// refuseNXGet is a go-redis hook that answers SET ... NX GET as redis
// before 7.0 does, with a syntax error, and counts the refusals.
type refuseNXGet struct{ refused atomic.Int32 }

func (h *refuseNXGet) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *refuseNXGet) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func (h *refuseNXGet) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() == "set" {
			nx, get := false, false
			for _, a := range cmd.Args()[3:] {
				switch a {
				case "nx":
					nx = true
				case "get":
					get = true
				}
			}
			if nx && get {
				h.refused.Add(1)
				err := replyError("ERR syntax error")
				cmd.SetErr(err)
				return err
			}
		}
		return next(ctx, cmd)
	}
}

// TestConformanceOldServer runs the suite on a client that refuses SET NX
// GET, as redis before 7.0 does: the backend must switch to its acquire
// script after the first refusal, and keep the contract.
func TestConformanceOldServer(t *testing.T) {
	t.Parallel() // a miniredis of its own; the suite's keep-alive subtests sleep on real time
	mr, c := mini(t)
	h := &refuseNXGet{}
	c.AddHook(h)
	var made atomic.Int32
	locktest.Run(t, locktest.Harness{
		New: func(*testing.T) lock.Lock {
			made.Add(1)
			return mustNew(t, c, testOpts)
		},
		Advance:       mr.FastForward,
		Granularity:   granularity,
		RetryInterval: testRetry,
	})
	// Each Lock value learns it from its first refusal; attempts already in
	// flight by then are refused too, hence the slack. A Lock value that
	// never learned would be refused on every attempt: hundreds of times.
	if n, most := h.refused.Load(), 2*made.Load(); n < 1 || n > most {
		t.Errorf("SET NX GET refused %d times over %d Lock values; want at least once, and at most %d", n, made.Load(), most)
	}
}

func TestConformanceOldServerReal(t *testing.T) {
	c := realClient(t)
	h := &refuseNXGet{}
	c.AddHook(h)
	// The subtests run in parallel, after this function returns.
	t.Cleanup(func() {
		if h.refused.Load() == 0 {
			t.Errorf("SET NX GET never refused; want the old-server path exercised")
		}
	})
	locktest.Run(t, realHarness(func(t *testing.T) lock.Lock { return mustNew(t, c, testOpts) }))
}

// TestOldServerRefusedOnce checks that one Lock value asks SET NX GET once
// only of a server that refuses it.
func TestOldServerRefusedOnce(t *testing.T) {
	_, c := mini(t)
	h := &refuseNXGet{}
	c.AddHook(h)
	l := mustNew(t, c, testOpts)
	defer l.Close()
	ctx := ctxT(t)
	for i := range 5 {
		s, err := l.TryAcquire(ctx, "k", time.Minute)
		if err != nil {
			t.Fatalf("TryAcquire #%d = %v; want a lease", i, err)
		}
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release #%d = %v; want nil", i, err)
		}
	}
	if got := h.refused.Load(); got != 1 {
		t.Errorf("SET NX GET refused %d times; want 1", got)
	}
}

// TestExpiryMilliseconds checks the expiry sent: the ttl rounded up to
// whole milliseconds, plus one.
func TestExpiryMilliseconds(t *testing.T) {
	mr, c := mini(t)
	l := mustNew(t, c, nil)
	defer l.Close()
	ctx := ctxT(t)
	for _, tc := range []struct {
		ttl, want time.Duration
	}{
		{time.Millisecond, 2 * time.Millisecond},
		{time.Millisecond + time.Nanosecond, 3 * time.Millisecond},
		{1500 * time.Microsecond, 3 * time.Millisecond},
		{50 * time.Millisecond, 51 * time.Millisecond},
		{time.Hour, time.Hour + time.Millisecond},
	} {
		s, err := l.TryAcquire(ctx, "ttl", tc.ttl)
		if err != nil {
			t.Fatalf("TryAcquire(ttl %v) = %v; want a lease", tc.ttl, err)
		}
		if got := mr.TTL("lock:ttl"); got != tc.want {
			t.Errorf("TryAcquire(ttl %v): PTTL = %v; want %v", tc.ttl, got, tc.want)
		}
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release() = %v; want nil", err)
		}
		// Extend on a lease whose deadline is ahead (a lease past it
		// refuses to extend: it may have another owner).
		if s, err = l.TryAcquire(ctx, "ttl", time.Hour); err != nil {
			t.Fatalf("TryAcquire(ttl 1h) = %v; want a lease", err)
		}
		if err := s.Extend(ctx, tc.ttl); err != nil {
			t.Fatalf("Extend(%v) = %v; want nil", tc.ttl, err)
		}
		if got := mr.TTL("lock:ttl"); got != tc.want {
			t.Errorf("Extend(%v): PTTL = %v; want %v", tc.ttl, got, tc.want)
		}
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release() after Extend(%v) = %v; want nil", tc.ttl, err)
		}
	}
}

// TestPrefix checks that keys are stored under the prefix, as they are.
func TestPrefix(t *testing.T) {
	mr, c := mini(t)
	ctx := ctxT(t)
	key := "a key\r\n\x00\xff"
	for _, tc := range []struct {
		opts   *redis.Options
		stored string
	}{
		{nil, "lock:" + key},
		{&redis.Options{}, "lock:" + key},
		{&redis.Options{Prefix: "app/"}, "app/" + key},
	} {
		l := mustNew(t, c, tc.opts)
		s, err := l.TryAcquire(ctx, key, time.Minute)
		if err != nil {
			t.Fatalf("TryAcquire = %v; want a lease", err)
		}
		if got, err := mr.Get(tc.stored); err != nil || got != s.Token() {
			t.Errorf("stored under %q: %q, %v; want the token %q", tc.stored, got, err, s.Token())
		}
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release() = %v; want nil", err)
		}
		if mr.Exists(tc.stored) {
			t.Errorf("%q still exists after Release", tc.stored)
		}
		l.Close()
	}
}

// TestNewKeepsClient checks that a Lock from New leaves its client open.
func TestNewKeepsClient(t *testing.T) {
	_, c := mini(t)
	l := mustNew(t, c, nil)
	if err := l.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if err := c.Ping(ctxT(t)).Err(); err != nil {
		t.Errorf("client Ping after the Lock's Close = %v; want nil (the client is the caller's)", err)
	}
}

// TestOpenClosesClient checks that a Lock from Open closes the client it
// made.
func TestOpenClosesClient(t *testing.T) {
	mr, _ := mini(t)
	l, err := lock.Open(ctxT(t), "redis://"+mr.Addr())
	if err != nil {
		t.Fatalf("lock.Open: %v", err)
	}
	if _, err := l.TryAcquireLock(ctxT(t), "k", time.Minute); err != nil {
		t.Fatalf("TryAcquireLock = %v; want nil", err)
	}
	if n := mr.CurrentConnectionCount(); n == 0 {
		t.Fatalf("miniredis connections while the Lock is open = 0; want some")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for mr.CurrentConnectionCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("miniredis connections after Close = %d; want 0", mr.CurrentConnectionCount())
		}
		time.Sleep(5 * time.Millisecond) // polling a server-side count: no event to wait on
	}
}

func TestNewRefusedClients(t *testing.T) {
	if l, err := redis.New(nil, nil); l != nil || err == nil {
		t.Errorf("New(nil, nil) = %v, %v; want nil and an error", l, err)
	}
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1", "b": "127.0.0.1:2"}})
	defer ring.Close()
	if l, err := redis.New(ring, nil); l != nil || err == nil || !strings.Contains(err.Error(), "Ring") {
		t.Errorf("New(ring, nil) = %v, %v; want nil and an error about the Ring", l, err)
	}
}

// realHarness is the suite's harness for a real server, on real time.
func realHarness(newLock func(t *testing.T) lock.Lock) locktest.Harness {
	return locktest.Harness{New: newLock, Granularity: granularity, TTL: 200 * time.Millisecond, RetryInterval: testRetry}
}

// mustOpen returns lock.Open(raw), failing the test on an error.
func mustOpen(t *testing.T, raw string) lock.Lock {
	t.Helper()
	l, err := lock.Open(ctxT(t), raw)
	if err != nil {
		t.Fatalf("lock.Open: %v", err)
	}
	return l
}

// mustNew returns redis.New(c, opts), failing the test on an error.
func mustNew(t testing.TB, c goredis.UniversalClient, opts *redis.Options) lock.Lock {
	t.Helper()
	l, err := redis.New(c, opts)
	if err != nil {
		t.Fatalf("redis.New: %v", err)
	}
	return l
}

// TestStaleHolderReal: a holder whose lock expired and was taken over can
// neither release nor extend the new owner's lock, on a real server's
// clock.
func TestStaleHolderReal(t *testing.T) {
	c := realClient(t)
	ctx := ctxT(t)
	a, b := mustNew(t, c, testOpts), mustNew(t, c, testOpts)
	defer a.Close()
	defer b.Close()
	key := "stale:" + rand.Text()
	const ttl = 100 * time.Millisecond
	old, err := a.TryAcquire(ctx, key, ttl)
	if err != nil {
		t.Fatalf("TryAcquire = %v; want a lease", err)
	}
	held := time.Now()
	var s *lock.Lease
	for s == nil {
		s, err = b.TryAcquire(ctx, key, time.Minute)
		switch {
		case err == nil && time.Since(held) < ttl:
			t.Fatalf("TryAcquire by another owner succeeded %v after a %v lock; want ErrNotAcquired", time.Since(held), ttl)
		case err != nil && !errors.Is(err, lock.ErrNotAcquired):
			t.Fatalf("TryAcquire = %v; want a lease or ErrNotAcquired", err)
		case err != nil && time.Since(held) > ttl+5*time.Second:
			t.Fatalf("lock of %v still held %v later", ttl, time.Since(held))
		case err != nil:
			time.Sleep(5 * time.Millisecond) // polling the server's clock
		}
	}
	if err := old.Extend(ctx, time.Hour); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("stale Extend() = %v; want ErrNotHeld", err)
	}
	if err := old.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("stale Release() = %v; want ErrNotHeld", err)
	}
	if got, err := c.Get(ctx, "lock:"+key).Result(); err != nil || got != s.Token() {
		t.Errorf("GET after stale calls = %q, %v; want the new owner's token %q", got, err, s.Token())
	}
	if d, err := c.PTTL(ctx, "lock:"+key).Result(); err != nil || d < 50*time.Second {
		t.Errorf("PTTL after a stale Extend = %v, %v; want the new owner's ttl of about 1m", d, err)
	}
	if err := s.Release(ctx); err != nil {
		t.Errorf("new owner's Release() = %v; want nil", err)
	}
}

// TestTTLPrecisionReal: a 50ms lock is not acquirable by another owner at
// 45ms, and is soon after 50ms, counted from the start of the acquiring
// call. Only attempts that ended before 50ms count against the lock, so a
// slow reply cannot fail the test; rounds go on until five such attempts
// (at most 50 rounds), so a loaded machine rarely leaves nothing checked.
func TestTTLPrecisionReal(t *testing.T) {
	c := realClient(t)
	ctx := ctxT(t)
	a, b := mustNew(t, c, testOpts), mustNew(t, c, testOpts)
	defer a.Close()
	defer b.Close()
	const ttl = 50 * time.Millisecond
	checked, rounds := 0, 0
	for ; checked < 5 && rounds < 50; rounds++ {
		key := "precision:" + rand.Text()
		held := time.Now() // the ttl counts from the start of the call
		if _, err := a.TryAcquire(ctx, key, ttl); err != nil {
			t.Fatalf("TryAcquire = %v; want a lease", err)
		}
		time.Sleep(45*time.Millisecond - time.Since(held))
		_, err := b.TryAcquire(ctx, key, time.Minute)
		ended := time.Since(held)
		switch {
		case err == nil && ended < ttl:
			t.Fatalf("a %v lock was acquired by another owner in an attempt that ended %v after the first call began", ttl, ended)
		case err != nil && !errors.Is(err, lock.ErrNotAcquired):
			t.Fatalf("TryAcquire at %v = %v; want ErrNotAcquired", ended, err)
		case err != nil && ended < ttl:
			checked++
		}
		if err == nil {
			continue // acquired after ttl: not a violation, nothing to poll
		}
		time.Sleep(60*time.Millisecond - time.Since(held))
		for {
			_, err := b.TryAcquire(ctx, key, time.Minute)
			if err == nil {
				break
			}
			if !errors.Is(err, lock.ErrNotAcquired) {
				t.Fatalf("TryAcquire = %v; want a lease or ErrNotAcquired", err)
			}
			if d := time.Since(held); d > 2*time.Second {
				t.Fatalf("a %v lock still held %v after it was taken; want it free by about 52ms", ttl, d)
			}
			time.Sleep(time.Millisecond) // polling the server's clock
		}
	}
	if checked == 0 {
		t.Fatalf("no attempt at 45ms ended before 50ms in %d rounds: the machine is too slow to check precision", rounds)
	}
	t.Logf("%d of %d attempts at 45ms ended before 50ms and found the lock held", checked, rounds)
}

// cancelDuringSet is a go-redis hook that lets a SET reach the server and
// then cancels the caller's ctx before the reply is read, as when a ctx
// ends while a command is in flight.
type cancelDuringSet struct{ cancel context.CancelFunc }

func (h *cancelDuringSet) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *cancelDuringSet) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func (h *cancelDuringSet) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if cmd.Name() != "set" {
			return next(ctx, cmd)
		}
		_ = next(context.WithoutCancel(ctx), cmd)
		h.cancel()
		cmd.SetErr(ctx.Err())
		return ctx.Err()
	}
}

// TestAcquireInterrupted: a ctx that ends while the SET is in flight makes
// the acquire fail with the ctx's error, and a wait with ErrNotAcquired too;
// the lock the SET stored is released in the background rather than left
// for its ttl.
func TestAcquireInterrupted(t *testing.T) {
	for _, api := range []string{"AcquireLock", "Acquire", "TryAcquireLock"} {
		t.Run(api, func(t *testing.T) {
			mr, c := mini(t)
			ctx, cancel := context.WithCancel(ctxT(t))
			c.AddHook(&cancelDuringSet{cancel: cancel})
			l := mustNew(t, c, testOpts)
			defer l.Close()
			var err error
			switch api {
			case "AcquireLock":
				err = l.AcquireLock(ctx, "k", time.Hour, time.Minute)
			case "Acquire":
				var s *lock.Lease
				if s, err = l.Acquire(ctx, "k", time.Hour); s != nil {
					t.Errorf("Acquire interrupted returned a lease; want nil")
				}
			case "TryAcquireLock":
				var ok bool
				if ok, err = l.TryAcquireLock(ctx, "k", time.Hour); ok {
					t.Errorf("TryAcquireLock interrupted = true; want false")
				}
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s interrupted = %v; want context.Canceled", api, err)
			}
			if api != "TryAcquireLock" && !errors.Is(err, lock.ErrNotAcquired) {
				t.Fatalf("%s interrupted = %v; want ErrNotAcquired (the wait was cut by its ctx)", api, err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for mr.Exists("lock:k") {
				if time.Now().After(deadline) {
					t.Fatalf("lock:k still stored 5s after an interrupted acquire; want it released")
				}
				time.Sleep(time.Millisecond) // polling the server for the background release
			}
		})
	}
}

// TestClientThatSendsNothing checks that a go-redis client with
// MaxRetries below -1, which sends no command at all, never makes a Lock
// report a lock acquired: two Locks over it must not both hold a key.
func TestClientThatSendsNothing(t *testing.T) {
	mr := miniredis.RunT(t)
	c := goredis.NewClient(&goredis.Options{Addr: mr.Addr(), MaxRetries: -2})
	defer c.Close()
	a, b := mustNew(t, c, nil), mustNew(t, c, nil)
	defer a.Close()
	defer b.Close()
	ctx := ctxT(t)
	okA, _ := a.TryAcquireLock(ctx, "k", time.Minute)
	okB, _ := b.TryAcquireLock(ctx, "k", time.Minute)
	if okA && okB {
		t.Fatal("two Locks both acquired k over a client that sends nothing")
	}
	if okA || okB {
		if !mr.Exists("lock:k") {
			t.Fatal("a Lock reported k acquired, and the server holds no such key")
		}
	}
}
