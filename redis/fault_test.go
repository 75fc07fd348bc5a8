package redis_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/faultproxy"
	"github.com/distlock/lock/redis"
)

// The fault tests put a faultproxy between a Lock opened by URL (so with
// the defaults of the clients this package makes) and the server, inject
// one fault around one call, and check, against the server directly:
//
//   - nothing false: no acquire, extend or release reported that the server
//     does not show, and no ErrNotHeld while the server still holds the
//     token (nor at all before the ttl, unless the fault lost the data);
//   - every call bounded: within its ctx deadline, or with none within the
//     bound that the package doc states for the default timeout;
//   - nothing orphaned: the key free within a second of the fault healing;
//   - the same Lock works again, without reopening it;
//   - after a restart that lost the data, a lost lease's Extend says
//     ErrNotHeld.
//
// They run on miniredis always and on the real server of
// LOCK_TEST_REDIS_URL when it is set, and log a table of the figures.

// faultSlack is what the assertions allow above a bound: scheduling on a
// loaded machine, under -race. It is under one timeout, so that one more
// round trip timed out fails. The figures logged are the measured ones.
const faultSlack = 250 * time.Millisecond

// freeWithin is how soon after the fault heals the key must be free.
const freeWithin = time.Second

// faultTTL is the ttl of the locks taken around faults: long enough that
// no expiry hides an orphaned lock or a false loss.
const faultTTL = 10 * time.Second

// T is the per-round-trip timeout of a Lock opened by URL.
const T = redis.DefaultTimeout

// pauses is the most the root's three release tries pause in between
// (jittered, from a sixteenth of the default retry interval, doubling).
const pauses = lock.DefaultRetryInterval/16 + lock.DefaultRetryInterval/8

// faultStore is a server the fault tests run against.
type faultStore struct {
	name string
	// setup returns the server's address, a client straight to it, the
	// Lock's URL through proxyAddr with prefix, and a function that loses
	// the data of the keys named, as a restart without persistence does.
	setup func(t *testing.T) (addr string, direct goredis.UniversalClient, lockURL func(proxyAddr, prefix string) string, lose func(keys ...string))
}

func faultStores(t *testing.T) []faultStore {
	stores := []faultStore{{
		name: "miniredis",
		setup: func(t *testing.T) (string, goredis.UniversalClient, func(string, string) string, func(...string)) {
			mr := miniredis.RunT(t)
			direct := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { direct.Close() })
			lockURL := func(proxyAddr, prefix string) string {
				return "redis://" + proxyAddr + "?prefix=" + url.QueryEscape(prefix)
			}
			restart := func(...string) { // a true restart, empty
				mr.Close()
				mr.FlushAll()
				if err := mr.Restart(); err != nil {
					t.Errorf("miniredis restart: %v", err)
				}
			}
			return mr.Addr(), direct, lockURL, restart
		},
	}}
	raw := os.Getenv("LOCK_TEST_REDIS_URL")
	if raw == "" {
		return stores
	}
	c := realClient(t)
	base, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL: %v", err)
	}
	return append(stores, faultStore{
		name: "real",
		setup: func(t *testing.T) (string, goredis.UniversalClient, func(string, string) string, func(...string)) {
			lockURL := func(proxyAddr, prefix string) string {
				u := *base
				u.Host = proxyAddr
				q := u.Query()
				q.Set("prefix", prefix)
				u.RawQuery = q.Encode()
				return u.String()
			}
			// The server is shared: the data loss is that of the test's
			// own keys.
			lose := func(keys ...string) {
				if err := c.Del(context.Background(), keys...).Err(); err != nil {
					t.Errorf("deleting %q: %v", keys, err)
				}
			}
			return c.Options().Addr, c, lockURL, lose
		},
	})
}

// fixture is one fault scenario: a proxy, a Lock through it, the key the
// operation works on and a bystander lease, held across the fault.
type fixture struct {
	t         *testing.T
	p         *faultproxy.Proxy
	l         lock.Lock
	direct    goredis.UniversalClient
	prefix    string
	key       string
	bystander *lock.Lease
	lose      func(keys ...string)
}

func newFixture(t *testing.T, st faultStore) *fixture {
	addr, direct, lockURL, lose := st.setup(t)
	p, err := faultproxy.Start(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	fx := &fixture{t: t, p: p, direct: direct, prefix: "fault-" + rand.Text()[:10] + ":", key: "k", lose: lose}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if fx.l, err = lock.Open(ctx, lockURL(p.Addr(), fx.prefix)); err != nil {
		t.Fatalf("lock.Open through the proxy: %v", err)
	}
	t.Cleanup(func() { fx.l.Close() })
	// A first cycle loads the scripts and leaves a connection in the pool,
	// so the call under the fault goes out on a live connection.
	s, err := fx.l.TryAcquire(ctx, "warm", faultTTL)
	if err == nil {
		err = s.Extend(ctx, faultTTL)
	}
	if err == nil {
		err = s.Release(ctx)
	}
	if err != nil {
		t.Fatalf("warm-up cycle: %v", err)
	}
	if fx.bystander, err = fx.l.TryAcquire(ctx, "bystander", faultTTL); err != nil {
		t.Fatalf("TryAcquire(bystander) = %v", err)
	}
	return fx
}

// stored returns the token stored for key, "" when there is none.
func (fx *fixture) stored(key string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := fx.direct.Get(ctx, fx.prefix+key).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		fx.t.Errorf("GET %s directly: %v", fx.prefix+key, err)
	}
	return v
}

// pttl returns the remaining lifetime of key, directly.
func (fx *fixture) pttl(key string) time.Duration {
	d, err := fx.direct.PTTL(context.Background(), fx.prefix+key).Result()
	if err != nil {
		fx.t.Errorf("PTTL %s directly: %v", fx.prefix+key, err)
	}
	return d
}

// waitFree waits until key is free on the server, and returns how long
// after since it became so, or a negative duration if it is still held
// after limit.
func (fx *fixture) waitFree(key string, since time.Time, limit time.Duration) time.Duration {
	for {
		if fx.stored(key) == "" {
			return time.Since(since)
		}
		if time.Since(since) > limit {
			return -1
		}
		time.Sleep(5 * time.Millisecond) // polling the server: no event to wait on
	}
}

// A fault starts with start, which returns the function that heals it.
type fault struct {
	name  string
	start func(fx *fixture) (heal func())
	lossy bool // the data is lost: a restart without persistence
}

// mode returns the start of a fault that sets a mode of the proxy, healed
// by Pass.
func mode(set func(p *faultproxy.Proxy)) func(fx *fixture) func() {
	return func(fx *fixture) func() {
		set(fx.p)
		return fx.p.Pass
	}
}

var faults = []fault{
	// Slow replies, under the timeout.
	{name: "Latency50ms", start: mode(func(p *faultproxy.Proxy) { p.Latency(50 * time.Millisecond) })},
	// Replies after the timeout: every request lands, and none is
	// answered in time.
	{name: "Latency1s", start: mode(func(p *faultproxy.Proxy) { p.Latency(time.Second) })},
	{name: "BlackHole", start: mode((*faultproxy.Proxy).BlackHole)},
	// The first request lands, and its connection is reset before its
	// reply; new connections are reset until the fault heals.
	{name: "ResetMidReply", start: resetMidReply},
	// Every reply cut after 2 bytes, until the fault heals.
	{name: "CutReply", start: mode(func(p *faultproxy.Proxy) { p.CutReply(2) })},
	// The next reply lost, then all well.
	{name: "CutOneReply", start: mode(func(p *faultproxy.Proxy) { p.CutNextReply(0) })},
	// Down, then back up with the data lost.
	{name: "Restart", start: restart, lossy: true},
}

// resetMidReply holds every reply, and resets every connection as soon as
// one is held (or after a second): the first request has landed, and its
// reply is lost to a reset. New connections are reset until the fault
// heals.
func resetMidReply(fx *fixture) func() {
	seen := fx.p.Stats().Received
	fx.p.Latency(time.Hour)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		give := time.NewTimer(time.Second)
		defer give.Stop()
	wait:
		for fx.p.Stats().Received == seen {
			select {
			case <-stop:
				return
			case <-give.C:
				break wait
			case <-time.After(time.Millisecond): // polling a counter: no event to wait on
			}
		}
		fx.p.Reset()
	}()
	return func() {
		close(stop)
		<-done
		fx.p.Pass()
	}
}

// restart takes the proxy down and loses the data of the fixture's keys;
// the heal brings the proxy up.
func restart(fx *fixture) func() {
	fx.p.Down()
	fx.lose(fx.prefix+fx.key, fx.prefix+"bystander")
	return func() {
		if err := fx.p.Up(); err != nil {
			fx.t.Fatalf("proxy Up: %v", err)
		}
	}
}

// figure is one line of the table the tests log.
type figure struct {
	store, fault, op string
	took, bound      time.Duration
	outcome          string
	err              error         // the call's
	healed           time.Time     // when the fault healed
	free             time.Duration // from healed to the key free; <0: not measured
	again            time.Duration // from healed to the Lock's first answer
}

type figures struct {
	mu   sync.Mutex
	rows []figure
}

func (f *figures) add(r figure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows = append(f.rows, r)
}

func (f *figures) log(t *testing.T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	slices.SortFunc(f.rows, func(a, b figure) int {
		return strings.Compare(a.store+a.fault+a.op, b.store+b.fault+b.op)
	})
	var b strings.Builder
	b.WriteString("\ntook: the call under the fault (for Do: its release, after fn); bound: its ctx deadline, or the bound without one;\n" +
		"free, again: from the heal (for Do: from its return) until the key is free on the server, and until the Lock answers again.\n")
	fmt.Fprintf(&b, "%-9s %-13s %-11s %9s %9s %9s %9s  %s\n", "store", "fault", "call", "took", "bound", "free", "again", "outcome")
	for _, r := range f.rows {
		free := "-"
		if r.free >= 0 {
			free = r.free.Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "%-9s %-13s %-11s %9v %9v %9s %9v  %s\n", r.store, r.fault, r.op,
			r.took.Round(time.Millisecond), r.bound, free, r.again.Round(time.Millisecond), r.outcome)
	}
	t.Log(b.String())
}

// An op is a call made under a fault. run applies the fault, makes the
// call, heals the fault, checks the outcome against the server and returns
// the line of the table, with free set when the op measured it itself.
type op struct {
	name string
	run  func(fx *fixture, f fault) figure
}

var ops = []op{
	{"TryAcquire", opTryAcquire},
	{"Acquire", opAcquire},
	{"AcquireLock", opAcquireLock},
	{"Release", opRelease},
	{"Extend", opExtend},
	{"Do", opDo},
}

// outcome names an error for the table.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, lock.ErrNotAcquired):
		return "ErrNotAcquired"
	case errors.Is(err, lock.ErrNotHeld):
		return "ErrNotHeld"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return "error"
}

// opTryAcquire: TryAcquire with no deadline, on a free key.
func opTryAcquire(fx *fixture, f fault) figure {
	t := fx.t
	bound := 2 * T // the backend sends an attempt whose outcome is unknown once more
	heal := f.start(fx)
	begin := time.Now()
	s, err := fx.l.TryAcquire(context.Background(), fx.key, faultTTL)
	took := time.Since(begin)
	heal()
	healed := time.Now()
	switch {
	case err == nil && fx.stored(fx.key) != s.Token():
		t.Errorf("false acquire: TryAcquire = a lease, and the server holds %q, not its token", fx.stored(fx.key))
	case errors.Is(err, lock.ErrNotAcquired):
		t.Errorf("TryAcquire of a free key = %v; want a lease or an error in transit", err)
	}
	if s != nil {
		release(t, s, healed)
	}
	return figure{op: "TryAcquire", err: err, took: took, bound: bound, outcome: outcome(err), healed: healed, free: -1}
}

// opAcquire: Acquire with a ctx deadline, on a free key.
func opAcquire(fx *fixture, f fault) figure {
	t := fx.t
	const deadline = 400 * time.Millisecond
	heal := f.start(fx)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	begin := time.Now()
	s, err := fx.l.Acquire(ctx, fx.key, faultTTL)
	took := time.Since(begin)
	cancel()
	heal()
	healed := time.Now()
	switch {
	case err == nil && fx.stored(fx.key) != s.Token():
		t.Errorf("false acquire: Acquire = a lease, and the server holds %q, not its token", fx.stored(fx.key))
	case err != nil && (!errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded)):
		t.Errorf("Acquire under a fault = %v; want a lease, or ErrNotAcquired and DeadlineExceeded", err)
	}
	if s != nil {
		release(t, s, healed)
	}
	return figure{op: "Acquire", err: err, took: took, bound: deadline, outcome: outcome(err), healed: healed, free: -1}
}

// opAcquireLock: AcquireLock with a timeout and no ctx deadline, on a free
// key. It has no token to show: the key is the test's alone, so a lock
// reported acquired must be stored.
func opAcquireLock(fx *fixture, f fault) figure {
	t := fx.t
	const timeout = 400 * time.Millisecond
	heal := f.start(fx)
	begin := time.Now()
	err := fx.l.AcquireLock(context.Background(), fx.key, faultTTL, timeout)
	took := time.Since(begin)
	heal()
	healed := time.Now()
	switch {
	case err == nil && fx.stored(fx.key) == "":
		t.Errorf("false acquire: AcquireLock = nil, and the server holds nothing")
	case err != nil && (!errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded)):
		t.Errorf("AcquireLock under a fault = %v; want nil, or ErrNotAcquired and DeadlineExceeded", err)
	}
	if err == nil {
		rerr, _ := healedCall(healed, func(ctx context.Context) error { return fx.l.ReleaseLock(ctx, fx.key) })
		if rerr != nil {
			t.Errorf("ReleaseLock once healed = %v; want nil", rerr)
		}
	}
	// A timed wait returns within one retry interval of its timeout.
	return figure{op: "AcquireLock", err: err, took: took, bound: timeout + lock.DefaultRetryInterval, outcome: outcome(err), healed: healed, free: -1}
}

// opRelease: Release with no deadline, of a lease held.
func opRelease(fx *fixture, f fault) figure {
	t := fx.t
	bound := 3*T + pauses // three tries
	s := mustAcquire(t, fx.l, fx.key)
	heal := f.start(fx)
	begin := time.Now()
	err := s.Release(context.Background())
	took := time.Since(begin)
	heal()
	healed := time.Now()
	left := fx.stored(fx.key)
	switch {
	case err == nil && left == s.Token():
		t.Errorf("false release: Release = nil, and the server still holds the token")
	case errors.Is(err, lock.ErrNotHeld) && left == s.Token():
		t.Errorf("false loss: Release = %v, and the server still holds the token", err)
	case errors.Is(err, lock.ErrNotHeld) && !f.lossy:
		t.Errorf("false loss: Release = %v before the ttl, with no data lost; want nil (its earlier try released it)", err)
	case err != nil && !errors.Is(err, lock.ErrNotHeld):
		// Healed now: the same lease releases, and a try that landed
		// is no loss.
		rerr, _ := healedCall(healed, s.Release)
		if rerr != nil && !(f.lossy && errors.Is(rerr, lock.ErrNotHeld)) {
			t.Errorf("Release after %v, once healed = %v; want nil", err, rerr)
		}
	}
	return figure{op: "Release", err: err, took: took, bound: bound, outcome: outcome(err), healed: healed, free: -1}
}

// opExtend: Extend with a ctx deadline under the timeout, of a lease held.
func opExtend(fx *fixture, f fault) figure {
	t := fx.t
	const deadline = 150 * time.Millisecond
	s := mustAcquire(t, fx.l, fx.key)
	heal := f.start(fx)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	begin := time.Now()
	err := s.Extend(ctx, 3*faultTTL)
	took := time.Since(begin)
	cancel()
	heal()
	healed := time.Now()
	left := fx.stored(fx.key)
	switch {
	case err == nil && left != s.Token():
		t.Errorf("false extend: Extend = nil, and the server holds %q, not the token", left)
	case err == nil && fx.pttl(fx.key) <= faultTTL:
		t.Errorf("false extend: Extend(%v) = nil, and the server's PTTL is %v", 3*faultTTL, fx.pttl(fx.key))
	case errors.Is(err, lock.ErrNotHeld) && left == s.Token():
		t.Errorf("false loss: Extend = %v, and the server still holds the token", err)
	case errors.Is(err, lock.ErrNotHeld) && !f.lossy:
		t.Errorf("false loss: Extend = %v before the ttl, with no data lost", err)
	}
	extend := func(ctx context.Context) error { return s.Extend(ctx, faultTTL) }
	switch err, _ := healedCall(healed, extend); {
	case f.lossy && !errors.Is(err, lock.ErrNotHeld):
		t.Errorf("Extend of a lease lost to a restart = %v; want ErrNotHeld", err)
	case !f.lossy && err != nil:
		t.Errorf("Extend once healed = %v; want nil", err)
	case !f.lossy:
		release(t, s, healed)
	}
	return figure{op: "Extend", err: err, took: took, bound: deadline, outcome: outcome(err), healed: healed, free: -1}
}

// opDo: lock.Do, whose keep-alive extends through the fault. While fn's
// ctx lives and the lease's deadline is ahead, the server must hold the
// token (unless the fault lost it); past the deadline, fn's ctx must be
// cancelled. The bound is that of the release when fn returns.
func opDo(fx *fixture, f fault) figure {
	t := fx.t
	const (
		ttl    = 900 * time.Millisecond // keep-alive every 300ms
		window = 600 * time.Millisecond // the fault's length
	)
	var (
		healed, returned, endedAt time.Time
		cause                     error
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := lock.Do(ctx, fx.l, fx.key, ttl, func(fctx context.Context) error {
		s := lock.LeaseFromContext(fctx)
		watch := func(until time.Time, lost bool) {
			for time.Now().Before(until) {
				now, deadline, live := time.Now(), s.Deadline(), fctx.Err() == nil
				switch {
				case !live && endedAt.IsZero():
					endedAt, cause = now, context.Cause(fctx)
				case live && now.After(deadline.Add(faultSlack)):
					t.Errorf("fn's ctx still live %v past the lease's deadline", now.Sub(deadline))
					return
				case live && now.Before(deadline) && !lost:
					if got := fx.stored(fx.key); got != s.Token() && time.Now().Before(deadline) {
						t.Errorf("false extend: the lease holds until %v from now, and the server holds %q, not its token", deadline.Sub(now), got)
						return
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		heal := f.start(fx)
		watch(time.Now().Add(window), f.lossy)
		heal()
		healed = time.Now()
		watch(healed.Add(ttl), f.lossy)
		if f.lossy && endedAt.IsZero() {
			t.Errorf("lease lost to a restart: fn's ctx still live %v after the heal; want it cancelled", ttl)
		}
		returned = time.Now()
		return nil
	})
	took := time.Since(returned)
	switch {
	case endedAt.IsZero() && err != nil:
		t.Errorf("Do, lease kept throughout = %v; want nil", err)
	case !endedAt.IsZero() && !errors.Is(err, lock.ErrNotHeld):
		t.Errorf("Do, lease ended (%v) = %v; want ErrNotHeld", cause, err)
	case !endedAt.IsZero() && !errors.Is(cause, lock.ErrNotHeld):
		t.Errorf("fn's ctx cause = %v; want ErrNotHeld", cause)
	}
	got := "kept"
	if !endedAt.IsZero() {
		got = fmt.Sprintf("lost %v after heal", endedAt.Sub(healed).Round(time.Millisecond))
	}
	free := fx.waitFree(fx.key, returned, freeWithin+faultSlack)
	if free < 0 {
		t.Errorf("key still held %v after Do returned", freeWithin+faultSlack)
	}
	// fn waits a ttl after the heal: free and again count from Do's return.
	return figure{op: "Do", took: took, bound: 3*T + pauses, outcome: got, healed: returned, free: free}
}

func mustAcquire(t *testing.T, l lock.Lock, key string) *lock.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := l.TryAcquire(ctx, key, faultTTL)
	if err != nil {
		t.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	return s
}

// healedCall makes call once the fault has healed, and again while it
// fails in transit, until a second (and the slack) after healed: once
// pool_size dials have failed, go-redis fails calls without dialling until
// its probe, every second, succeeds (see the package doc, # Timeouts). It
// returns call's last error, and when call first answered, after healed.
func healedCall(healed time.Time, call func(ctx context.Context) error) (error, time.Duration) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := call(ctx)
		cancel()
		if err == nil || errors.Is(err, lock.ErrNotHeld) || errors.Is(err, lock.ErrNotAcquired) ||
			time.Since(healed) > freeWithin+faultSlack {
			return err, time.Since(healed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// release releases s once the fault has healed.
func release(t *testing.T, s *lock.Lease, healed time.Time) {
	t.Helper()
	if err, _ := healedCall(healed, s.Release); err != nil {
		t.Errorf("Release(%q) once healed = %v; want nil", s.Key(), err)
	}
}

// TestFaults runs every op under every fault, on every store.
func TestFaults(t *testing.T) {
	for _, st := range faultStores(t) {
		var figs figures
		t.Run(st.name, func(t *testing.T) {
			for _, f := range faults {
				for _, o := range ops {
					t.Run(f.name+"/"+o.name, func(t *testing.T) {
						t.Parallel()
						fx := newFixture(t, st)
						r := o.run(fx, f)
						r.store, r.fault = st.name, f.name
						if r.took > r.bound+faultSlack {
							t.Errorf("%s under %s took %v; want at most %v (+%v slack)", o.name, f.name, r.took, r.bound, faultSlack)
						}
						// The Lock is used again while the key is watched.
						done := make(chan struct{})
						go func() {
							defer close(done)
							r.again = fx.afterHeal(f, r.healed)
						}()
						if r.free < 0 {
							if r.free = fx.waitFree(fx.key, r.healed, freeWithin+faultSlack); r.free < 0 {
								t.Errorf("orphaned: key still held %v after the fault healed (the call under it returned %v); want it free within %v",
									freeWithin+faultSlack, r.err, freeWithin)
							}
						}
						<-done
						figs.add(r)
					})
				}
			}
		})
		figs.log(t)
	}
}

// afterHeal checks the bystander lease, held across the fault, and that
// the Lock works again, and returns how soon after healed it did.
func (fx *fixture) afterHeal(f fault, healed time.Time) time.Duration {
	t := fx.t
	extend := func(ctx context.Context) error { return fx.bystander.Extend(ctx, faultTTL) }
	err, again := healedCall(healed, extend)
	switch {
	case f.lossy && !errors.Is(err, lock.ErrNotHeld):
		t.Errorf("Extend of a lease lost to a restart = %v; want ErrNotHeld", err)
	case !f.lossy && err != nil:
		t.Errorf("Extend of a lease held across the fault = %v; want nil", err)
	case !f.lossy:
		release(t, fx.bystander, healed)
	}
	// The same Lock, without reopening it.
	var s *lock.Lease
	try := func(ctx context.Context) (err error) {
		s, err = fx.l.TryAcquire(ctx, "again", faultTTL)
		return err
	}
	if err, _ := healedCall(healed, try); err != nil {
		t.Errorf("TryAcquire once healed = %v; want a lease", err)
		return again
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Extend(ctx, faultTTL); err != nil {
		t.Errorf("Extend once healed = %v; want nil", err)
	}
	if err := s.Release(ctx); err != nil {
		t.Errorf("Release once healed = %v; want nil", err)
	}
	return again
}

// TestReleaseReplyCut: the reply of a release is lost, and the release is
// sent again, finding the token gone. Over a client made from a URL (no
// retries inside go-redis) the Lock knows its first try may have landed,
// and reports the release done. Over a client passed to New that retries
// inside go-redis, the retry's "not held" is all the Lock sees: it may
// report ErrNotHeld, a false loss, as the package doc says; never a
// release of a token still stored.
func TestReleaseReplyCut(t *testing.T) {
	for _, st := range faultStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Run("URL", func(t *testing.T) {
				fx := newFixture(t, st)
				s := mustAcquire(t, fx.l, fx.key)
				fx.p.CutNextReply(0)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := s.Release(ctx); err != nil {
					t.Errorf("Release with its reply lost = %v; want nil", err)
				}
				if got := fx.stored(fx.key); got != "" {
					t.Errorf("server holds %q after the release; want nothing", got)
				}
				if n := fx.p.Stats().Cuts; n != 1 {
					t.Errorf("replies cut = %d; want 1", n)
				}
				fx.afterHeal(fault{}, time.Now())
			})
			t.Run("NewWithGoRedisRetries", func(t *testing.T) {
				fx := newFixture(t, st)
				c := goredis.NewClient(&goredis.Options{Addr: fx.p.Addr(), ContextTimeoutEnabled: true}) // MaxRetries: go-redis's 3
				defer c.Close()
				l := mustNew(t, c, &redis.Options{Prefix: fx.prefix})
				defer l.Close()
				s := mustAcquire(t, l, fx.key)
				fx.p.CutNextReply(0)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := s.Release(ctx)
				if err != nil && !errors.Is(err, lock.ErrNotHeld) {
					t.Errorf("Release with its reply lost = %v; want nil or ErrNotHeld", err)
				}
				if got := fx.stored(fx.key); got != "" {
					t.Errorf("server holds %q after Release = %v; want nothing", got, err)
				}
				t.Logf("Release over a go-redis client with retries, its reply lost: %v", err)
			})
		})
	}
}
