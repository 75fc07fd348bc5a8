package memcached_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/faultproxy"
	"github.com/distlock/lock/memcached"
)

// The fault tests put a faultproxy between a Lock opened by URL (so with
// the defaults: timeout 500ms, call_timeout 1s, 3 retries, over the meta
// protocol) and the server, inject one fault around one call, and check,
// against the server directly:
//
//   - nothing false: no acquire, extend or release reported that the server
//     does not show, and no ErrNotHeld while the server still holds the
//     token (nor at all before the ttl, unless the fault lost the data);
//   - every call bounded: within its ctx deadline, or with none within the
//     bound that the package doc states for the defaults;
//   - nothing orphaned: the key free within a second of the fault healing;
//   - the same Lock works again, without reopening it;
//   - after a restart, which loses the data, a lost lease's Extend says
//     ErrNotHeld.
//
// They run on the fake, and on the real server of LOCK_TEST_MEMCACHED_URL
// when it is set; the restart there needs a memcached of its own, started
// from LOCK_TEST_MEMCACHED_BIN. They log a table of the figures.

// mcFaultSlack is what the assertions allow above a bound: scheduling on a
// loaded machine, under -race. It is under one attempt's timeout, so that
// one more attempt timed out fails. The figures logged are the measured
// ones.
const mcFaultSlack = 250 * time.Millisecond

// mcFreeWithin is how soon after the fault heals the key must be free.
const mcFreeWithin = time.Second

// mcFaultTTL is the ttl of the locks taken around faults: long enough that
// no expiry hides an orphaned lock or a false loss.
const mcFaultTTL = 10 * time.Second

// callBound is the bound of one call to the store of a Lock opened by URL:
// call_timeout, retries and read-backs included.
const callBound = memcached.DefaultCallTimeout

// releasePauses is the most the Lease's three release tries pause in
// between (jittered, from a sixteenth of the default retry interval,
// doubling).
const releasePauses = lock.DefaultRetryInterval/16 + lock.DefaultRetryInterval/8

// faultServer is a server the fault tests run against.
type faultServer struct {
	name string
	// start returns the address of a server for one scenario and, when
	// restartable, a function that restarts it, losing its data (or it
	// skips the scenario, if it cannot).
	start func(t *testing.T, restartable bool) (addr string, restart func())
}

func faultServers(t *testing.T) []faultServer {
	servers := []faultServer{{
		name: "fake",
		start: func(t *testing.T, _ bool) (string, func()) {
			srv, _ := startFake(t, nil)
			return srv.Addr(), srv.Restart
		},
	}}
	if os.Getenv("LOCK_TEST_MEMCACHED_URL") == "" {
		return servers
	}
	realClient(t) // configured: it must answer
	shared := realServers(t)[0]
	return append(servers, faultServer{
		name: "real",
		start: func(t *testing.T, restartable bool) (string, func()) {
			if !restartable {
				return shared, nil // each scenario's keys have their own prefix
			}
			return ownMemcached(t)
		},
	})
}

// ownMemcached starts a memcached of LOCK_TEST_MEMCACHED_BIN on a free port,
// killed when the test ends, and returns its address and a function that
// kills it and starts it again on the same port, empty. It skips the test
// when the variable is not set.
func ownMemcached(t *testing.T) (string, func()) {
	t.Helper()
	bin := os.Getenv("LOCK_TEST_MEMCACHED_BIN")
	if bin == "" {
		t.Skip("LOCK_TEST_MEMCACHED_BIN not set: a restart needs a memcached of the test's own")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "16"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	var cmd *exec.Cmd
	start := func() {
		cmd = exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("LOCK_TEST_MEMCACHED_BIN=%s: %v", bin, err)
		}
		waitListening(t, addr)
	}
	start()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return addr, func() {
		cmd.Process.Kill()
		cmd.Wait()
		start()
	}
}

// faultFixture is one fault scenario: a server, a proxy in front of it, a
// Lock through the proxy, the key the operation works on and a bystander
// lease, held across the fault.
type faultFixture struct {
	t         *testing.T
	addr      string // the server's, for reading it directly
	p         *faultproxy.Proxy
	l         lock.Lock
	prefix    string
	key       string
	bystander *lock.Lease
	restart   func() // loses the server's data
}

func newFaultFixture(t *testing.T, srv faultServer, f faultCase) *faultFixture {
	addr, restart := srv.start(t, f.lossy)
	p := startCutProxy(t, addr)
	fx := &faultFixture{t: t, addr: addr, p: p, prefix: uniquePrefix("fault"), key: "k", restart: restart}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if fx.l, err = lock.Open(ctx, "memcached://"+p.Addr()+"?prefix="+url.QueryEscape(fx.prefix)); err != nil {
		t.Fatalf("lock.Open through the proxy: %v", err)
	}
	t.Cleanup(func() { fx.l.Close() })
	// A first cycle leaves a connection in the pool, so the call under the
	// fault goes out on a live connection, with the cas id of its lock known.
	s, err := fx.l.TryAcquire(ctx, "warm", mcFaultTTL)
	if err == nil {
		err = s.Extend(ctx, mcFaultTTL)
	}
	if err == nil {
		err = s.Release(ctx)
	}
	if err != nil {
		t.Fatalf("warm-up cycle: %v", err)
	}
	if fx.bystander, err = fx.l.TryAcquire(ctx, "bystander", mcFaultTTL); err != nil {
		t.Fatalf("TryAcquire(bystander) = %v", err)
	}
	return fx
}

// stored returns the token stored for key, "" when there is none, and its
// remaining lifetime in seconds, read on the server directly.
func (fx *faultFixture) stored(key string) (string, int) {
	token, ttl, err := peek(fx.addr, fx.prefix+key)
	if err != nil {
		fx.t.Errorf("reading %s directly: %v", fx.prefix+key, err)
	}
	return token, ttl
}

func (fx *faultFixture) token(key string) string {
	token, _ := fx.stored(key)
	return token
}

// waitFree waits until key is free on the server, and returns how long
// after since it became so, or a negative duration if it is still held
// after limit.
func (fx *faultFixture) waitFree(key string, since time.Time, limit time.Duration) time.Duration {
	for {
		if fx.token(key) == "" {
			return time.Since(since)
		}
		if time.Since(since) > limit {
			return -1
		}
		time.Sleep(5 * time.Millisecond) // polling the server: no event to wait on
	}
}

// A faultCase starts with start, which returns the function that heals it.
type faultCase struct {
	name  string
	start func(fx *faultFixture) (heal func())
	lossy bool // the data is lost: a restart
}

// proxyMode returns the start of a fault that sets a mode of the proxy,
// healed by Pass.
func proxyMode(set func(p *faultproxy.Proxy)) func(fx *faultFixture) func() {
	return func(fx *faultFixture) func() {
		set(fx.p)
		return fx.p.Pass
	}
}

var faultCases = []faultCase{
	// Slow replies, under the timeout.
	{name: "Latency50ms", start: proxyMode(func(p *faultproxy.Proxy) { p.Latency(50 * time.Millisecond) })},
	// Replies after the call timeout: every request lands, and none is
	// answered in time.
	{name: "Latency1s", start: proxyMode(func(p *faultproxy.Proxy) { p.Latency(time.Second) })},
	{name: "BlackHole", start: proxyMode((*faultproxy.Proxy).BlackHole)},
	// The first request lands, and its connection is reset before its
	// reply; new connections are reset until the fault heals.
	{name: "ResetMidReply", start: resetMidReplyFault},
	// Every reply cut after 2 bytes ("HD" without its line end), until
	// the fault heals.
	{name: "CutReply", start: proxyMode(func(p *faultproxy.Proxy) { p.CutReply(2) })},
	// The next reply lost, then all well.
	{name: "CutOneReply", start: proxyMode(func(p *faultproxy.Proxy) { p.CutNextReply(0) })},
	// Down, restarted empty, then back up.
	{name: "Restart", start: restartFault, lossy: true},
}

// resetMidReplyFault holds every reply, and resets every connection as
// soon as one is held (or after a second): the first request has landed,
// and its reply is lost to a reset. New connections are reset until the
// fault heals.
func resetMidReplyFault(fx *faultFixture) func() {
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

// restartFault takes the proxy down and restarts the server, which loses
// its data and numbers cas ids from 1 again; the heal brings the proxy up.
func restartFault(fx *faultFixture) func() {
	fx.p.Down()
	fx.restart()
	return func() {
		if err := fx.p.Up(); err != nil {
			fx.t.Fatalf("proxy Up: %v", err)
		}
	}
}

// faultFigure is one line of the table the tests log.
type faultFigure struct {
	server, fault, op string
	took, bound       time.Duration
	outcome           string
	err               error         // the call's
	healed            time.Time     // when the fault healed
	free              time.Duration // from healed to the key free; <0: not measured
	again             time.Duration // from healed to the Lock's first answer
}

type faultFigures struct {
	mu   sync.Mutex
	rows []faultFigure
}

func (f *faultFigures) add(r faultFigure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows = append(f.rows, r)
}

func (f *faultFigures) log(t *testing.T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.rows) == 0 {
		return
	}
	slices.SortFunc(f.rows, func(a, b faultFigure) int {
		return strings.Compare(a.server+a.fault+a.op, b.server+b.fault+b.op)
	})
	var b strings.Builder
	b.WriteString("\ntook: the call under the fault (for Do: its release, after fn); bound: its ctx deadline, or the bound without one;\n" +
		"free, again: from the heal (for Do: from its return) until the key is free on the server, and until the Lock answers again.\n")
	fmt.Fprintf(&b, "%-6s %-13s %-11s %9s %9s %9s %9s  %s\n", "server", "fault", "call", "took", "bound", "free", "again", "outcome")
	for _, r := range f.rows {
		free := "-"
		if r.free >= 0 {
			free = r.free.Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "%-6s %-13s %-11s %9v %9v %9s %9v  %s\n", r.server, r.fault, r.op,
			r.took.Round(time.Millisecond), r.bound, free, r.again.Round(time.Millisecond), r.outcome)
	}
	t.Log(b.String())
}

// A faultOp is a call made under a fault. run applies the fault, makes the
// call, heals the fault, checks the outcome against the server and returns
// the line of the table, with free set when the op measured it itself.
type faultOp struct {
	name string
	run  func(fx *faultFixture, f faultCase) faultFigure
}

var faultOps = []faultOp{
	{"TryAcquire", faultTryAcquire},
	{"Acquire", faultAcquire},
	{"AcquireLock", faultAcquireLock},
	{"Release", faultRelease},
	{"Extend", faultExtend},
	{"Do", faultDo},
}

// faultOutcome names an error for the table.
func faultOutcome(err error) string {
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

// faultTryAcquire: TryAcquire with no deadline, on a free key.
func faultTryAcquire(fx *faultFixture, f faultCase) faultFigure {
	t := fx.t
	heal := f.start(fx)
	begin := time.Now()
	s, err := fx.l.TryAcquire(context.Background(), fx.key, mcFaultTTL)
	took := time.Since(begin)
	heal()
	healed := time.Now()
	switch {
	case err == nil && fx.token(fx.key) != s.Token():
		t.Errorf("false acquire: TryAcquire = a lease, and the server holds %q, not its token", fx.token(fx.key))
	case errors.Is(err, lock.ErrNotAcquired):
		t.Errorf("TryAcquire of a free key = %v; want a lease or an error in transit", err)
	}
	if s != nil {
		mcRelease(t, s, healed)
	}
	return faultFigure{op: "TryAcquire", err: err, took: took, bound: callBound, outcome: faultOutcome(err), healed: healed, free: -1}
}

// faultAcquire: Acquire with a ctx deadline, on a free key.
func faultAcquire(fx *faultFixture, f faultCase) faultFigure {
	t := fx.t
	const deadline = 400 * time.Millisecond
	heal := f.start(fx)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	begin := time.Now()
	s, err := fx.l.Acquire(ctx, fx.key, mcFaultTTL)
	took := time.Since(begin)
	cancel()
	heal()
	healed := time.Now()
	switch {
	case err == nil && fx.token(fx.key) != s.Token():
		t.Errorf("false acquire: Acquire = a lease, and the server holds %q, not its token", fx.token(fx.key))
	case err != nil && (!errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded)):
		t.Errorf("Acquire under a fault = %v; want a lease, or ErrNotAcquired and DeadlineExceeded", err)
	}
	if s != nil {
		mcRelease(t, s, healed)
	}
	return faultFigure{op: "Acquire", err: err, took: took, bound: deadline, outcome: faultOutcome(err), healed: healed, free: -1}
}

// faultAcquireLock: AcquireLock with a timeout and no ctx deadline, on a
// free key. It has no token to show: the key is the test's alone, so a
// lock reported acquired must be stored.
func faultAcquireLock(fx *faultFixture, f faultCase) faultFigure {
	t := fx.t
	const timeout = 400 * time.Millisecond
	heal := f.start(fx)
	begin := time.Now()
	err := fx.l.AcquireLock(context.Background(), fx.key, mcFaultTTL, timeout)
	took := time.Since(begin)
	heal()
	healed := time.Now()
	switch {
	case err == nil && fx.token(fx.key) == "":
		t.Errorf("false acquire: AcquireLock = nil, and the server holds nothing")
	case err != nil && (!errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded)):
		t.Errorf("AcquireLock under a fault = %v; want nil, or ErrNotAcquired and DeadlineExceeded", err)
	}
	if err == nil {
		rerr, _ := mcHealedCall(healed, func(ctx context.Context) error { return fx.l.ReleaseLock(ctx, fx.key) })
		if rerr != nil {
			t.Errorf("ReleaseLock once healed = %v; want nil", rerr)
		}
	}
	// A timed wait returns within one retry interval of its timeout.
	return faultFigure{op: "AcquireLock", err: err, took: took, bound: timeout + lock.DefaultRetryInterval, outcome: faultOutcome(err), healed: healed, free: -1}
}

// faultRelease: Release with no deadline, of a lease held.
func faultRelease(fx *faultFixture, f faultCase) faultFigure {
	t := fx.t
	bound := 3*callBound + releasePauses // three tries
	s := mcMustAcquire(t, fx.l, fx.key)
	heal := f.start(fx)
	begin := time.Now()
	err := s.Release(context.Background())
	took := time.Since(begin)
	heal()
	healed := time.Now()
	left := fx.token(fx.key)
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
		rerr, _ := mcHealedCall(healed, s.Release)
		if rerr != nil && !(f.lossy && errors.Is(rerr, lock.ErrNotHeld)) {
			t.Errorf("Release after %v, once healed = %v; want nil", err, rerr)
		}
	}
	return faultFigure{op: "Release", err: err, took: took, bound: bound, outcome: faultOutcome(err), healed: healed, free: -1}
}

// faultExtend: Extend with a ctx deadline under the timeout, of a lease
// held.
func faultExtend(fx *faultFixture, f faultCase) faultFigure {
	t := fx.t
	const deadline = 150 * time.Millisecond
	s := mcMustAcquire(t, fx.l, fx.key)
	heal := f.start(fx)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	begin := time.Now()
	err := s.Extend(ctx, 3*mcFaultTTL)
	took := time.Since(begin)
	cancel()
	heal()
	healed := time.Now()
	left, ttl := fx.stored(fx.key)
	// The lock was stored for ceil(10s)+1 seconds; extended, for 31.
	acquired := int(mcFaultTTL/time.Second) + 1
	switch {
	case err == nil && left != s.Token():
		t.Errorf("false extend: Extend = nil, and the server holds %q, not the token", left)
	case err == nil && ttl <= acquired:
		t.Errorf("false extend: Extend(%v) = nil, and the server's ttl is %ds", 3*mcFaultTTL, ttl)
	case errors.Is(err, lock.ErrNotHeld) && left == s.Token():
		t.Errorf("false loss: Extend = %v, and the server still holds the token", err)
	case errors.Is(err, lock.ErrNotHeld) && !f.lossy:
		t.Errorf("false loss: Extend = %v before the ttl, with no data lost", err)
	}
	extend := func(ctx context.Context) error { return s.Extend(ctx, mcFaultTTL) }
	switch err, _ := mcHealedCall(healed, extend); {
	case f.lossy && !errors.Is(err, lock.ErrNotHeld):
		t.Errorf("Extend of a lease lost to a restart = %v; want ErrNotHeld", err)
	case !f.lossy && err != nil:
		t.Errorf("Extend once healed = %v; want nil", err)
	case !f.lossy:
		mcRelease(t, s, healed)
	}
	return faultFigure{op: "Extend", err: err, took: took, bound: deadline, outcome: faultOutcome(err), healed: healed, free: -1}
}

// faultDo: lock.Do, whose keep-alive extends through the fault. While fn's
// ctx lives and the lease's deadline is ahead, the server must hold the
// token (unless the fault lost it); past the deadline, fn's ctx must be
// cancelled. The bound is that of the release when fn returns.
func faultDo(fx *faultFixture, f faultCase) faultFigure {
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
				case live && now.After(deadline.Add(mcFaultSlack)):
					t.Errorf("fn's ctx still live %v past the lease's deadline", now.Sub(deadline))
					return
				case live && now.Before(deadline) && !lost:
					if got := fx.token(fx.key); got != s.Token() && time.Now().Before(deadline) {
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
	free := fx.waitFree(fx.key, returned, mcFreeWithin+mcFaultSlack)
	if free < 0 {
		t.Errorf("key still held %v after Do returned", mcFreeWithin+mcFaultSlack)
	}
	// fn waits a ttl after the heal: free and again count from Do's return.
	return faultFigure{op: "Do", took: took, bound: 3*callBound + releasePauses, outcome: got, healed: returned, free: free}
}

func mcMustAcquire(t *testing.T, l lock.Lock, key string) *lock.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := l.TryAcquire(ctx, key, mcFaultTTL)
	if err != nil {
		t.Fatalf("TryAcquire(%q) = %v; want a lease", key, err)
	}
	return s
}

// mcHealedCall makes call once the fault has healed, and again while it
// fails, until a second (and the slack) after healed. It returns call's
// last error, and when call first answered, after healed.
func mcHealedCall(healed time.Time, call func(ctx context.Context) error) (error, time.Duration) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := call(ctx)
		cancel()
		if err == nil || errors.Is(err, lock.ErrNotHeld) || errors.Is(err, lock.ErrNotAcquired) ||
			time.Since(healed) > mcFreeWithin+mcFaultSlack {
			return err, time.Since(healed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mcRelease releases s once the fault has healed.
func mcRelease(t *testing.T, s *lock.Lease, healed time.Time) {
	t.Helper()
	if err, _ := mcHealedCall(healed, s.Release); err != nil {
		t.Errorf("Release(%q) once healed = %v; want nil", s.Key(), err)
	}
}

// TestFaults runs every op under every fault, on every server.
func TestFaults(t *testing.T) {
	for _, srv := range faultServers(t) {
		var figs faultFigures
		t.Run(srv.name, func(t *testing.T) {
			for _, f := range faultCases {
				for _, o := range faultOps {
					t.Run(f.name+"/"+o.name, func(t *testing.T) {
						t.Parallel()
						fx := newFaultFixture(t, srv, f)
						r := o.run(fx, f)
						r.server, r.fault = srv.name, f.name
						if r.took > r.bound+mcFaultSlack {
							t.Errorf("%s under %s took %v; want at most %v (+%v slack)", o.name, f.name, r.took, r.bound, mcFaultSlack)
						}
						// The Lock is used again while the key is watched.
						done := make(chan struct{})
						go func() {
							defer close(done)
							r.again = fx.afterHeal(f, r.healed)
						}()
						if r.free < 0 {
							if r.free = fx.waitFree(fx.key, r.healed, mcFreeWithin+mcFaultSlack); r.free < 0 {
								t.Errorf("orphaned: key still held %v after the fault healed (the call under it returned %v); want it free within %v",
									mcFreeWithin+mcFaultSlack, r.err, mcFreeWithin)
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
func (fx *faultFixture) afterHeal(f faultCase, healed time.Time) time.Duration {
	t := fx.t
	extend := func(ctx context.Context) error { return fx.bystander.Extend(ctx, mcFaultTTL) }
	err, again := mcHealedCall(healed, extend)
	switch {
	case f.lossy && !errors.Is(err, lock.ErrNotHeld):
		t.Errorf("Extend of a lease lost to a restart = %v; want ErrNotHeld", err)
	case !f.lossy && err != nil:
		t.Errorf("Extend of a lease held across the fault = %v; want nil", err)
	case !f.lossy:
		mcRelease(t, fx.bystander, healed)
	}
	// The same Lock, without reopening it.
	var s *lock.Lease
	try := func(ctx context.Context) (err error) {
		s, err = fx.l.TryAcquire(ctx, "again", mcFaultTTL)
		return err
	}
	if err, _ := mcHealedCall(healed, try); err != nil {
		t.Errorf("TryAcquire once healed = %v; want a lease", err)
		return again
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Extend(ctx, mcFaultTTL); err != nil {
		t.Errorf("Extend once healed = %v; want nil", err)
	}
	if err := s.Release(ctx); err != nil {
		t.Errorf("Release once healed = %v; want nil", err)
	}
	return again
}
