// Package faulttest is the fault suite of lock backends, the second half of
// the conformance kit after package locktest: every backend, ours or a
// contributor's, runs it with one call, [Run], from its tests. It puts a
// TCP fault proxy (package faultproxy) between a Lock and the server,
// injects one fault around one call (latency past the timeouts, a black
// hole, connections reset, a reply cut short, a server down, a restart that
// loses the data), and checks, against the server directly:
//
//   - nothing false: no acquire, extend or release reported that the server
//     does not show, and no ErrNotHeld while the server still holds the
//     token (nor at all before the ttl, unless the fault lost the data);
//   - errors classified: a call that fails in transit returns an error that
//     matches lock.ErrUnavailable (or its ctx's error), never a bare
//     transport error;
//   - every call bounded: within its ctx deadline, or with none within the
//     bound that the backend's package doc states for its defaults;
//   - nothing orphaned: the key free within a second of the fault healing;
//   - the same Lock works again, without reopening it;
//   - after a restart that lost the data, a lost lease's Extend says
//     ErrNotHeld.
//
// Run makes every call under every fault, on every store of a Backend, and
// logs a table of the figures. What differs between backends is the
// Backend's: how a server is started, read directly and made to lose its
// data, how a Lock reaches it through the proxy (by URL, or a constructor),
// and the bounds that its package doc states. The package's example (for
// package redis on miniredis), and the fault tests of package memcached and
// package redis, are worked examples.
package faulttest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest/faultproxy"
)

// TTL is the ttl of the locks taken around faults: long enough that no
// expiry hides an orphaned lock or a false loss.
const TTL = 10 * time.Second

// scenarioLimit bounds one scenario, far above any bound it checks.
const scenarioLimit = 2 * time.Minute

// freeWithin is how soon after the fault heals the key must be free.
const freeWithin = time.Second

// releaseBound is the most a Release takes with no ctx deadline: its
// lock.ReleaseTries tries, and a pause of at most the default retry
// interval between two.
func (b *Backend) releaseBound() time.Duration {
	return lock.ReleaseTries*b.CallBound + (lock.ReleaseTries-1)*lock.DefaultRetryInterval
}

// A Backend is what the table needs to know of a backend.
type Backend struct {
	// Column heads the table's first column, which names the store.
	Column string
	// Stores are the servers the table runs on.
	Stores []Store
	// Slack is what the assertions allow above a bound: scheduling on a
	// loaded machine, under -race. It must be under one timeout of a
	// round trip (or of an attempt), so that one more timed out fails.
	// The figures logged are the measured ones.
	Slack time.Duration
	// CallBound bounds one round trip of the Lock's backend with no ctx
	// deadline (its own timeout): Run allows a Release lock.ReleaseTries of
	// them and the pauses in between. The calls with a ctx deadline are
	// bounded by it: Acquire 400ms, Extend 150ms; AcquireLock's timeout is
	// 400ms, and it may return one retry interval past it.
	CallBound time.Duration
	// TryAcquireBound bounds a TryAcquire with no ctx deadline.
	TryAcquireBound time.Duration
	// AcquiredTTL is the most remaining lifetime that the server shows for
	// a lock just acquired for TTL, as the server rounds it; once an Extend
	// to 3*TTL is reported done, it must show more.
	AcquiredTTL time.Duration
}

// A Store is a server the table runs on.
type Store struct {
	Name string
	// Start returns the server of one scenario. lossy says the scenario
	// makes it lose its data; Start may skip the scenario if it cannot.
	Start func(t *testing.T, lossy bool) Server
}

// A Server is the server of one scenario. The keys its funcs take are
// whole, prefix included.
type Server struct {
	// Addr is the server's address, that the proxy forwards to.
	Addr string
	// URL returns the URL of a Lock through the proxy at proxyAddr, with
	// the key prefix given (each scenario has its own, so the Lock must
	// take one): the Lock is opened with lock.Open, so with the
	// defaults of the clients the backend makes. Used when Open is nil.
	URL func(proxyAddr, prefix string) string
	// Open, when set, returns a Lock through the proxy at proxyAddr, with
	// the key prefix given, for a backend without a URL scheme.
	Open func(ctx context.Context, proxyAddr, prefix string) (lock.Lock, error)
	// Token reads the token stored for key on the server directly: ""
	// when there is none.
	Token func(key string) (string, error)
	// TTL reads the remaining lifetime of key on the server directly: 0
	// or less when there is none.
	TTL func(key string) (time.Duration, error)
	// Lose loses the data of the keys named (or all), as a restart without
	// persistence does. It is called while the proxy is down, in the
	// scenarios that Start was told are lossy.
	Lose func(keys ...string)
}

// A Fixture is one fault scenario: a server, a proxy in front of it, a Lock
// through the proxy, the key the call under the fault works on and a
// bystander lease, held across the fault.
type Fixture struct {
	P         *faultproxy.Proxy // between L and the server
	L         lock.Lock         // opened by URL, through P
	Prefix    string            // L's key prefix, the scenario's own
	Key       string            // the key of the call under the fault, without Prefix
	bystander *lock.Lease
	t         *testing.T
	b         *Backend
	srv       Server
}

// NewFixture starts a scenario on st, lossy if it is to lose the server's
// data. The proxy and the Lock are closed when the test ends.
func NewFixture(t *testing.T, b *Backend, st Store, lossy bool) *Fixture {
	srv := st.Start(t, lossy)
	p, err := faultproxy.Start(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	fx := &Fixture{P: p, Prefix: "fault-" + rand.Text()[:10] + ":", Key: "k", t: t, b: b, srv: srv}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if srv.Open != nil {
		fx.L, err = srv.Open(ctx, p.Addr(), fx.Prefix)
	} else {
		fx.L, err = lock.Open(ctx, srv.URL(p.Addr(), fx.Prefix))
	}
	if err != nil {
		t.Fatalf("opening a Lock through the proxy: %v", err)
	}
	t.Cleanup(func() { fx.L.Close() })
	// A first cycle leaves a connection in the pool, so the call under the
	// fault goes out on a live connection, and warms what the backend
	// keeps (redis: its scripts loaded; memcached: the cas id of its lock
	// known).
	s, err := fx.L.TryAcquire(ctx, "warm", TTL)
	if err == nil {
		err = s.Extend(ctx, TTL)
	}
	if err == nil {
		err = s.Release(ctx)
	}
	if err != nil {
		t.Fatalf("warm-up cycle: %v", err)
	}
	if fx.bystander, err = fx.L.TryAcquire(ctx, "bystander", TTL); err != nil {
		t.Fatalf("TryAcquire(bystander) = %v", err)
	}
	return fx
}

// Stored returns the token stored for key (without the prefix), "" when
// there is none, read on the server directly.
func (fx *Fixture) Stored(key string) string {
	token, err := fx.srv.Token(fx.Prefix + key)
	if err != nil {
		fx.t.Errorf("reading %s directly: %v", fx.Prefix+key, err)
	}
	return token
}

// ttl returns the remaining lifetime of key, read on the server directly.
func (fx *Fixture) ttl(key string) time.Duration {
	d, err := fx.srv.TTL(fx.Prefix + key)
	if err != nil {
		fx.t.Errorf("reading the ttl of %s directly: %v", fx.Prefix+key, err)
	}
	return d
}

// waitFree waits until key is free on the server, and returns how long
// after since it became so, or a negative duration if it is still held
// after limit.
func (fx *Fixture) waitFree(key string, since time.Time, limit time.Duration) time.Duration {
	for {
		if fx.Stored(key) == "" {
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
	start func(fx *Fixture) (heal func())
	lossy bool // the data is lost: a restart without persistence
}

// mode returns the start of a fault that sets a mode of the proxy, healed
// by Pass.
func mode(set func(p *faultproxy.Proxy)) func(fx *Fixture) func() {
	return func(fx *Fixture) func() {
		set(fx.P)
		return fx.P.Pass
	}
}

var faults = []fault{
	// Slow replies, under the timeout.
	{name: "Latency50ms", start: mode(func(p *faultproxy.Proxy) { p.Latency(50 * time.Millisecond) })},
	// Replies after the (call) timeout: every request lands, and none is
	// answered in time.
	{name: "Latency1s", start: mode(func(p *faultproxy.Proxy) { p.Latency(time.Second) })},
	{name: "BlackHole", start: mode((*faultproxy.Proxy).BlackHole)},
	// The first request lands, and its connection is reset before its
	// reply; new connections are reset until the fault heals.
	{name: "ResetMidReply", start: resetMidReply},
	// Every reply cut after 2 bytes (memcached's "HD" without its line
	// end), until the fault heals.
	{name: "CutReply", start: mode(func(p *faultproxy.Proxy) { p.CutReply(2) })},
	// The next reply lost, then all well.
	{name: "CutOneReply", start: mode(func(p *faultproxy.Proxy) { p.CutNextReply(0) })},
	// Down: open connections reset and new ones refused, then back up
	// with the data kept, as a server that was out of reach (a network
	// outage, a failover) and not restarted: the leases held across it
	// are still held.
	{name: "Down", start: down},
	// Down, then back up with the data lost.
	{name: "Restart", start: restart, lossy: true},
}

// resetMidReply holds every reply, and resets every connection as soon as
// one is held (or after a second): the first request has landed, and its
// reply is lost to a reset. New connections are reset until the fault
// heals.
func resetMidReply(fx *Fixture) func() {
	seen := fx.P.Stats().Received
	fx.P.Latency(time.Hour)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		give := time.NewTimer(time.Second)
		defer give.Stop()
	wait:
		for fx.P.Stats().Received == seen {
			select {
			case <-stop:
				return
			case <-give.C:
				break wait
			case <-time.After(time.Millisecond): // polling a counter: no event to wait on
			}
		}
		fx.P.Reset()
	}()
	return func() {
		close(stop)
		<-done
		fx.P.Pass()
	}
}

// down takes the proxy down, and the heal brings it up: the server keeps
// its data.
func down(fx *Fixture) func() {
	fx.P.Down()
	return fx.up
}

// up brings the proxy up after Down.
func (fx *Fixture) up() {
	if err := fx.P.Up(); err != nil {
		fx.t.Fatalf("proxy Up: %v", err)
	}
}

// restart takes the proxy down and loses the data of the fixture's keys
// (a memcached restarts, which also numbers cas ids from 1 again); the
// heal brings the proxy up.
func restart(fx *Fixture) func() {
	fx.P.Down()
	fx.srv.Lose(fx.Prefix+fx.Key, fx.Prefix+"bystander")
	return fx.up
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

// log logs the table, its first column headed column and as wide as
// width, unless it has no rows.
func (f *figures) log(t *testing.T, column string, width int) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.rows) == 0 {
		return
	}
	slices.SortFunc(f.rows, func(a, b figure) int {
		return strings.Compare(a.store+a.fault+a.op, b.store+b.fault+b.op)
	})
	var b strings.Builder
	b.WriteString("\ntook: the call under the fault (for Do: its release, after fn); bound: its ctx deadline, or the bound without one;\n" +
		"free, again: from the heal (for Do: from its return) until the key is free on the server, and until the Lock answers again.\n")
	fmt.Fprintf(&b, "%-*s %-13s %-11s %9s %9s %9s %9s  %s\n", width, column, "fault", "call", "took", "bound", "free", "again", "outcome")
	for _, r := range f.rows {
		free := "-"
		if r.free >= 0 {
			free = r.free.Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "%-*s %-13s %-11s %9v %9v %9s %9v  %s\n", width, r.store, r.fault, r.op,
			r.took.Round(time.Millisecond), r.bound, free, r.again.Round(time.Millisecond), r.outcome)
	}
	t.Log(b.String())
}

// classified reports whether err is nil, an answer of the store, or a
// failure that says so: one that matches lock.ErrUnavailable or a ctx
// error. A bare transport error would leave the caller unable to tell it
// from an answer.
func classified(err error) bool {
	return err == nil ||
		errors.Is(err, lock.ErrNotAcquired) ||
		errors.Is(err, lock.ErrNotHeld) ||
		errors.Is(err, lock.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
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
	case errors.Is(err, lock.ErrUnavailable):
		return "ErrUnavailable"
	}
	return "error"
}

// MustAcquire takes key on l for TTL, failing the test if it cannot.
func MustAcquire(t *testing.T, l lock.Lock, key string) *lock.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := l.TryAcquire(ctx, key, TTL)
	if err != nil {
		t.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	return s
}

// healedCall makes call once the fault has healed, and again while it
// fails, until a second (and the slack) after healed: once pool_size dials
// have failed, go-redis fails calls without dialling until its probe, every
// second, succeeds (see the redis package doc, # Timeouts). It returns
// call's last error, and when call first answered, after healed.
func (fx *Fixture) healedCall(healed time.Time, call func(ctx context.Context) error) (error, time.Duration) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := call(ctx)
		cancel()
		if err == nil || errors.Is(err, lock.ErrNotHeld) || errors.Is(err, lock.ErrNotAcquired) ||
			time.Since(healed) > freeWithin+fx.b.Slack {
			return err, time.Since(healed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// release releases s once the fault has healed.
func (fx *Fixture) release(s *lock.Lease, healed time.Time) {
	fx.t.Helper()
	if err, _ := fx.healedCall(healed, s.Release); err != nil {
		fx.t.Errorf("Release(%q) once healed = %v; want nil", s.Key(), err)
	}
}

// Run makes every call under every fault, on every store of b, and logs a
// table of the figures for each store, at the line of its caller.
func Run(t *testing.T, b *Backend) {
	t.Helper()
	width := len(b.Column)
	for _, st := range b.Stores {
		width = max(width, len(st.Name))
	}
	for _, st := range b.Stores {
		var figs figures
		t.Run(st.Name, func(t *testing.T) {
			for _, f := range faults {
				for _, o := range ops {
					t.Run(f.name+"/"+o.name, func(t *testing.T) {
						t.Parallel()
						// A call that never returns (a backend with no
						// timeout of its own) must fail the run, not hang it.
						watchdog := time.AfterFunc(scenarioLimit, func() {
							panic(fmt.Sprintf("faulttest: %s still running after %v: a call under the fault never returned (does the backend bound each round trip?)", t.Name(), scenarioLimit))
						})
						defer watchdog.Stop()
						fx := NewFixture(t, b, st, f.lossy)
						r := o.run(fx, f)
						r.store, r.fault = st.Name, f.name
						if !classified(r.err) {
							t.Errorf("%s under %s = %v; want an answer, or an error that matches lock.ErrUnavailable or the ctx's error", o.name, f.name, r.err)
						}
						if r.took > r.bound+b.Slack {
							t.Errorf("%s under %s took %v; want at most %v (+%v slack)", o.name, f.name, r.took, r.bound, b.Slack)
						}
						// The Lock is used again while the key is watched.
						done := make(chan struct{})
						go func() {
							defer close(done)
							r.again = fx.AfterHeal(f.lossy, r.healed)
						}()
						if r.free < 0 {
							if r.free = fx.waitFree(fx.Key, r.healed, freeWithin+b.Slack); r.free < 0 {
								t.Errorf("orphaned: key still held %v after the fault healed (the call under it returned %v); want it free within %v",
									freeWithin+b.Slack, r.err, freeWithin)
							}
						}
						<-done
						figs.add(r)
					})
				}
			}
		})
		figs.log(t, b.Column, width)
	}
}

// AfterHeal checks the bystander lease, held across the fault (lost, if
// the fault was lossy), and that the Lock works again, and returns how
// soon after healed it did.
func (fx *Fixture) AfterHeal(lossy bool, healed time.Time) time.Duration {
	t := fx.t
	extend := func(ctx context.Context) error { return fx.bystander.Extend(ctx, TTL) }
	err, again := fx.healedCall(healed, extend)
	switch {
	case lossy && !errors.Is(err, lock.ErrNotHeld):
		t.Errorf("Extend of a lease lost to a restart = %v; want ErrNotHeld", err)
	case !lossy && err != nil:
		t.Errorf("Extend of a lease held across the fault = %v; want nil", err)
	case !lossy:
		fx.release(fx.bystander, healed)
	}
	// The same Lock, without reopening it.
	var s *lock.Lease
	try := func(ctx context.Context) (err error) {
		s, err = fx.L.TryAcquire(ctx, "again", TTL)
		return err
	}
	if err, _ := fx.healedCall(healed, try); err != nil {
		t.Errorf("TryAcquire once healed = %v; want a lease", err)
		return again
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Extend(ctx, TTL); err != nil {
		t.Errorf("Extend once healed = %v; want nil", err)
	}
	if err := s.Release(ctx); err != nil {
		t.Errorf("Release once healed = %v; want nil", err)
	}
	return again
}
