//go:build linux

package etcd_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distlock/lock"
)

// TestMemberFailure runs Locks that contend for a few keys on a real
// 3-member etcd cluster of its own, and kills members under them with
// SIGKILL: first a follower (the cluster keeps its quorum), which is then
// started again and rejoins, and then the leader (2 of 3 remain, a new
// leader is elected). Throughout, no two owners may hold a key at once
// (an in-process owner count per key, and each key's fences growing in
// the order its critical sections began), and locking must go on after
// the election, within a bounded pause.
//
// It needs an etcd server binary: set LOCK_TEST_ETCD_BIN to it (e.g.
// /usr/bin/etcd). It is Linux only: the members die with the test
// process (Pdeathsig), so that a test killed by its timeout leaves none
// behind.
func TestMemberFailure(t *testing.T) {
	bin := os.Getenv("LOCK_TEST_ETCD_BIN")
	if bin == "" {
		t.Skip("LOCK_TEST_ETCD_BIN is not set: set it to an etcd server binary (e.g. /usr/bin/etcd) to run the 3-member failure test")
	}

	const (
		nLocks     = 4
		perLock    = 4 // goroutines per Lock
		nKeys      = 3
		ttl        = 3 * time.Second // whole seconds, above the server's least lease ttl (2s with the default election timeout)
		acquireFor = 2 * time.Second // each Acquire's ctx timeout
		releaseFor = 5 * time.Second // each Release's ctx timeout
		// callBound bounds any one Acquire or Release: its ctx timeout,
		// one retry interval, and one request in flight (the backend's
		// DefaultTimeout), with slack. A call that reaches it hangs.
		callBound = 7 * time.Second

		normalFor   = 2 * time.Second
		followerFor = 3 * time.Second
		leaderFor   = 5 * time.Second
		// lastFor is the end of the last phase, in which acquisitions
		// must be seen: after the election.
		lastFor  = 3 * time.Second
		maxPause = 10 * time.Second
	)

	c := startProcCluster(t, bin)
	eps := c.endpoints()
	leader := c.leader(t, nil)
	t.Logf("cluster of 3 members up (%s); leader %s", strings.Join(eps, ", "), leader.name)

	// Each Lock names the 3 endpoints in an order of its own: the Locks
	// of a process over the same endpoints share their waits' queues
	// (driver.Scoper), and these stand for the Locks of 4 processes,
	// whose waits contend at the cluster.
	orders := [][]int{{0, 1, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	locks := make([]lock.Lock, nLocks)
	for i := range locks {
		var hosts []string
		for _, j := range orders[i%len(orders)] {
			hosts = append(hosts, eps[j])
		}
		lockURL := "etcd://" + strings.Join(hosts, ",") + "?retry_interval=20ms"
		octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l, err := lock.Open(octx, lockURL)
		cancel()
		if err != nil {
			t.Fatalf("lock.Open(%q): %v", lockURL, err)
		}
		locks[i] = l
		t.Cleanup(func() {
			if err := l.Close(); err != nil {
				t.Errorf("Close of Lock %d: %v", i, err)
			}
		})
	}

	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("member-failure/k%d", i)
	}
	rec := newContentionLog(nKeys)

	runCtx, stop := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	var stopOnce sync.Once
	stopWorkers := func() {
		stopOnce.Do(func() {
			stop()
			workers.Wait()
		})
	}
	defer stopWorkers() // a t.Fatal of the main goroutine stops them too

	var t0 time.Time // the start of the run, set before the workers start
	worker := func(li int, l lock.Lock) {
		for runCtx.Err() == nil {
			ki := rand.N(nKeys)
			key := keys[ki]
			actx, cancel := context.WithTimeout(runCtx, acquireFor)
			start := time.Now()
			le, err := l.Acquire(actx, key, ttl)
			cancel()
			took := time.Since(start)
			rec.callTook(took)
			if took > callBound {
				t.Errorf("Acquire(%q) of Lock %d hung: %v (bound %v), err %v", key, li, took, callBound, err)
			}
			if err != nil {
				if runCtx.Err() != nil {
					return // the run ended: not counted
				}
				if rec.acquireFailed(time.Now(), err) {
					sleepFor(10 * time.Millisecond) // an unexpected error: no hot loop
				}
				continue
			}

			// The critical section. Done makes the lease learn a loss at
			// once, from the backend's watch (driver.HoldWatcher), as a
			// holder that uses it, or lock.Do, would.
			_ = le.Done()
			at := time.Now()
			n := rec.owners[ki].Add(1)
			fence, hasFence := le.Fence()
			rec.entered(ki, critSection{at: at, fence: fence, lock: li})
			if !hasFence {
				t.Errorf("lease of %q from Lock %d has no fence", key, li)
			}
			if n != 1 {
				rec.overlap(at, fmt.Sprintf("%q: %d owners at once when Lock %d entered with fence %d", key, n, li, fence))
			}
			sleepFor(time.Duration(2000+rand.N(3001)) * time.Microsecond)
			if lerr := le.Err(); lerr != nil {
				// The section outlived its lease: no more a guarantee of
				// exclusion.
				rec.lateSection(fmt.Sprintf("%q, Lock %d, fence %d, at +%v: Acquire took %v and left %v to the lease's deadline; the section took %v; %v",
					key, li, fence, at.Sub(t0).Round(time.Millisecond), took.Round(time.Millisecond),
					le.Deadline().Sub(at).Round(time.Millisecond), time.Since(at).Round(time.Millisecond), lerr))
			}
			rec.owners[ki].Add(-1)

			// A release that failed in transit leaves the lock held (it
			// may have landed): it is sent again while the lease lasts, as
			// a careful holder does, rather than leave the key locked until
			// its lease expires.
			var before []string // the tries that failed in transit
			for {
				rctx, rcancel := context.WithTimeout(context.Background(), releaseFor)
				rstart := time.Now()
				err = le.Release(rctx)
				rcancel()
				rtook := time.Since(rstart)
				rec.callTook(rtook)
				if rtook > callBound {
					t.Errorf("Release(%q) of Lock %d hung: %v (bound %v), err %v", key, li, rtook, callBound, err)
				}
				if err == nil {
					break
				}
				try := fmt.Sprintf("Release at +%v, %v before the lease's deadline, took %v: %v",
					rstart.Sub(t0).Round(time.Millisecond), le.Deadline().Sub(rstart).Round(time.Millisecond), rtook.Round(time.Millisecond), err)
				rec.releaseFailed(err, rstart.Before(le.Deadline()), fmt.Sprintf("%q, Lock %d, fence %d, acquired at +%v (Acquire took %v); %s; tries before it: [%s]",
					key, li, fence, at.Sub(t0).Round(time.Millisecond), took.Round(time.Millisecond), try, strings.Join(before, "; ")))
				if !errors.Is(err, lock.ErrUnavailable) {
					break
				}
				before = append(before, try)
				if !time.Now().Before(le.Deadline()) {
					rec.releaseAbandoned()
					break
				}
				sleepFor(20 * time.Millisecond)
			}
		}
	}

	t0 = time.Now()
	for li, l := range locks {
		for range perLock {
			workers.Go(func() { worker(li, l) })
		}
	}

	// Phase 1: all members up.
	sleepFor(normalFor)

	// Phase 2: a follower killed.
	follower := c.followerOf(leader)
	tFollower := time.Now()
	c.kill(t, follower)
	t.Logf("+%v: SIGKILL to follower %s", tFollower.Sub(t0).Round(time.Millisecond), follower.name)
	sleepFor(followerFor)

	// Phase 3: the follower started again, until it serves a linearizable
	// read (it has rejoined the quorum).
	tRestart := time.Now()
	c.start(t, follower)
	c.waitHealthy(t, follower)
	t.Logf("+%v: follower %s started again; it served a linearizable read %v later",
		tRestart.Sub(t0).Round(time.Millisecond), follower.name, time.Since(tRestart).Round(time.Millisecond))

	// Phase 4: the leader killed; 2 of 3 members keep the quorum.
	leader = c.leader(t, nil)
	tLeader := time.Now()
	c.kill(t, leader)
	t.Logf("+%v: SIGKILL to leader %s", tLeader.Sub(t0).Round(time.Millisecond), leader.name)
	newLeader := c.leader(t, leader)
	elected := time.Since(tLeader)
	t.Logf("+%v: %s is the new leader, %v after the kill", time.Since(t0).Round(time.Millisecond), newLeader.name, elected.Round(time.Millisecond))
	if rest := leaderFor - time.Since(tLeader); rest > 0 {
		sleepFor(rest)
	}
	tEnd := time.Now()
	stopWorkers()

	// The figures.
	phases := []failurePhase{
		{name: "all up", from: t0, to: tFollower},
		{name: "follower killed", from: tFollower, to: tRestart},
		{name: "follower rejoining", from: tRestart, to: tLeader},
		{name: "leader killed", from: tLeader, to: tEnd},
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	acqs := slices.Clone(rec.acquired)
	slices.SortFunc(acqs, time.Time.Compare)

	var b strings.Builder
	fmt.Fprintf(&b, "%-19s %8s %6s %13s %9s %9s %8s %14s %8s\n",
		"phase", "length", "acq", "acq/s", "timeouts", "unavail", "other", "longest pause", "overlaps")
	for _, p := range phases {
		n := countBetween(acqs, p.from, p.to)
		fmt.Fprintf(&b, "%-19s %8v %6d %13.1f %9d %9d %8d %14v %8d\n",
			p.name, p.to.Sub(p.from).Round(time.Millisecond), n, float64(n)/p.to.Sub(p.from).Seconds(),
			countBetween(rec.timeouts, p.from, p.to), countBetween(rec.unavailable, p.from, p.to), countBetween(rec.other, p.from, p.to),
			longestGap(acqs, p.from, p.to).Round(time.Millisecond), countBetween(rec.overlaps, p.from, p.to))
	}
	longest := longestGap(acqs, t0, tEnd)
	fmt.Fprintf(&b, "%-19s %8v %6d %13.1f %9d %9d %8d %14v %8d",
		"total", tEnd.Sub(t0).Round(time.Millisecond), len(acqs), float64(len(acqs))/tEnd.Sub(t0).Seconds(),
		len(rec.timeouts), len(rec.unavailable), len(rec.other), longest.Round(time.Millisecond), len(rec.overlaps))
	t.Logf("%d Locks x %d goroutines on %d keys, ttl %v, Acquire timeout %v:\n%s", nLocks, perLock, nKeys, ttl, acquireFor, b.String())
	t.Logf("first acquisition after the follower's kill: %v; after the leader's kill: %v (new leader seen by Status after %v)",
		firstAcquiredAfter(acqs, tFollower), firstAcquiredAfter(acqs, tLeader), elected.Round(time.Millisecond))
	t.Logf("timeouts whose last attempt failed in transit: %d; release tries failed: %d in transit (%d leases left to expire), %d lost (ErrNotHeld), %d other; sections that outlived their lease: %d; slowest call %v",
		rec.timeoutsInTransit, rec.releaseUnavailable, rec.releasesAbandoned, rec.releaseNotHeld, rec.releaseOther, rec.late, rec.slowest.Round(time.Millisecond))

	var hist []string
	for from := t0; from.Before(tEnd); from = from.Add(500 * time.Millisecond) {
		hist = append(hist, fmt.Sprint(countBetween(acqs, from, from.Add(500*time.Millisecond))))
	}
	t.Logf("acquisitions per 500ms from the start: %s", strings.Join(hist, " "))
	byLock := make([]int, nLocks)
	for _, secs := range rec.sections {
		for _, s := range secs {
			if !s.at.Before(tLeader) {
				byLock[s.lock]++
			}
		}
	}
	t.Logf("after the leader's kill: acquisitions by Lock %v, %d in the last %v", byLock, countBetween(acqs, tEnd.Add(-lastFor), tEnd), lastFor)
	if rec.late != 0 {
		t.Logf("critical sections that outlived their lease: %s", strings.Join(rec.lateText, "; "))
	}

	// The checks.
	if len(rec.overlaps) != 0 {
		t.Errorf("%d overlaps: two owners held a key at once; the first: %s", len(rec.overlaps), strings.Join(rec.overlapText[:min(5, len(rec.overlapText))], "; "))
	}
	for ki, secs := range rec.sections {
		bad := 0
		for i := 1; i < len(secs); i++ {
			if secs[i].fence <= secs[i-1].fence {
				if bad < 5 {
					t.Errorf("%q: fence %d (Lock %d, at +%v) not above the fence %d of the section before it (Lock %d, at +%v)",
						keys[ki], secs[i].fence, secs[i].lock, secs[i].at.Sub(t0).Round(time.Millisecond),
						secs[i-1].fence, secs[i-1].lock, secs[i-1].at.Sub(t0).Round(time.Millisecond))
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%q: %d of %d critical sections had a fence not above the one before", keys[ki], bad, len(secs))
		}
		if len(secs) > 0 {
			t.Logf("%q: %d critical sections, fences %d..%d, strictly increasing: %v", keys[ki], len(secs), secs[0].fence, secs[len(secs)-1].fence, bad == 0)
		}
	}
	for _, p := range phases[:2] {
		if countBetween(acqs, p.from, p.to) == 0 {
			t.Errorf("no acquisition in phase %q: the cluster had its quorum", p.name)
		}
	}
	if n := countBetween(acqs, tEnd.Add(-lastFor), tEnd); n == 0 {
		t.Errorf("no acquisition in the last %v, after the leader's kill: locking did not go on after the election", lastFor)
	}
	if longest >= maxPause {
		t.Errorf("longest pause between two acquisitions %v, want under %v", longest, maxPause)
	}
	if len(rec.other) != 0 {
		t.Errorf("%d Acquire errors neither lock.ErrNotAcquired nor lock.ErrUnavailable; the first: %s", len(rec.other), strings.Join(rec.otherText, "; "))
	}
	if rec.releaseOther != 0 || rec.releaseTaken != 0 {
		t.Errorf("Release: %d errors neither in transit nor ErrNotHeld, %d ErrNotHeld before the lease's deadline (a lock lost while held); the first: %s",
			rec.releaseOther, rec.releaseTaken, strings.Join(rec.releaseText, "; "))
	}
}

// critSection is a critical section of a key: when it began, the fence of its
// lease, and the Lock that held it.
type critSection struct {
	at    time.Time
	fence uint64
	lock  int
}

// failurePhase is a span of the run.
type failurePhase struct {
	name     string
	from, to time.Time
}

// contentionLog records what the workers of TestMemberFailure see.
type contentionLog struct {
	owners []atomic.Int32 // per key: the goroutines in its critical section

	mu                sync.Mutex
	sections          [][]critSection // per key, in the order they began
	acquired          []time.Time
	timeouts          []time.Time // ErrNotAcquired: the Acquire's ctx ended
	timeoutsInTransit int         // of which the last attempt failed in transit
	unavailable       []time.Time // ErrUnavailable alone
	other             []time.Time
	otherText         []string
	overlaps          []time.Time
	overlapText       []string
	late              int // critical sections that outlived their lease
	lateText          []string

	releaseUnavailable, releaseNotHeld, releaseTaken, releaseOther int
	releasesAbandoned                                              int // in transit until the lease's deadline
	releaseText                                                    []string
	slowest                                                        time.Duration
}

func newContentionLog(nKeys int) *contentionLog {
	return &contentionLog{owners: make([]atomic.Int32, nKeys), sections: make([][]critSection, nKeys)}
}

func (r *contentionLog) entered(key int, s critSection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sections[key] = append(r.sections[key], s)
	r.acquired = append(r.acquired, s.at)
}

func (r *contentionLog) overlap(at time.Time, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.overlaps = append(r.overlaps, at)
	r.overlapText = append(r.overlapText, what)
}

func (r *contentionLog) callTook(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.slowest = max(r.slowest, d)
}

// acquireFailed counts a failed Acquire, and reports whether its error is
// unexpected.
func (r *contentionLog) acquireFailed(at time.Time, err error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, lock.ErrNotAcquired):
		r.timeouts = append(r.timeouts, at)
		if errors.Is(err, lock.ErrUnavailable) {
			r.timeoutsInTransit++
		}
	case errors.Is(err, lock.ErrUnavailable):
		r.unavailable = append(r.unavailable, at)
	default:
		r.other = append(r.other, at)
		if len(r.otherText) < 5 {
			r.otherText = append(r.otherText, err.Error())
		}
		return true
	}
	return false
}

// lateSection records a critical section that outlived its lease.
func (r *contentionLog) lateSection(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.late++
	if len(r.lateText) < 5 {
		r.lateText = append(r.lateText, what)
	}
}

// releaseAbandoned counts a lease whose releases failed in transit until
// its deadline.
func (r *contentionLog) releaseAbandoned() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releasesAbandoned++
}

// releaseFailed counts a failed Release; beforeDeadline says it began
// before the lease's deadline.
func (r *contentionLog) releaseFailed(err error, beforeDeadline bool, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, lock.ErrUnavailable):
		r.releaseUnavailable++
		return
	case errors.Is(err, lock.ErrNotHeld):
		r.releaseNotHeld++
		if !beforeDeadline {
			return
		}
		r.releaseTaken++
	default:
		r.releaseOther++
	}
	if len(r.releaseText) < 5 {
		r.releaseText = append(r.releaseText, what)
	}
}

// countBetween returns how many of ts fall in [from, to).
func countBetween(ts []time.Time, from, to time.Time) int {
	n := 0
	for _, at := range ts {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// longestGap returns the longest span within [from, to] with no
// acquisition in sorted: between two consecutive ones, or from from to
// the first, or from the last to to.
func longestGap(sorted []time.Time, from, to time.Time) time.Duration {
	longest, last := time.Duration(0), from
	for _, at := range sorted {
		if at.Before(from) || at.After(to) {
			continue
		}
		longest, last = max(longest, at.Sub(last)), at
	}
	return max(longest, to.Sub(last))
}

// firstAcquiredAfter returns how long after from the first acquisition in sorted
// came, or "none".
func firstAcquiredAfter(sorted []time.Time, from time.Time) string {
	for _, at := range sorted {
		if !at.Before(from) {
			return at.Sub(from).Round(time.Millisecond).String()
		}
	}
	return "none"
}

// sleepFor sleeps for d.
func sleepFor(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}

// procCluster is a 3-member etcd cluster that a test runs as child
// processes, on loopback ports and data directories of its own.
type procCluster struct {
	bin, dir, token, initial string
	members                  []*procMember
}

type procMember struct {
	name, dataDir     string
	clientURL, peer   string // http://127.0.0.1:port
	endpoint          string // 127.0.0.1:port
	id                uint64 // from Status, once healthy
	cmd               *exec.Cmd
	exited            chan struct{} // closed when cmd has exited; nil when not running
	logs              []string      // one a start
	clientPort, pport int
}

// startProcCluster starts a cluster of 3 members of the etcd binary bin, and
// waits until each serves a linearizable read. The members are killed,
// and on failure the tails of their logs printed, when the test ends.
func startProcCluster(t *testing.T, bin string) *procCluster {
	t.Helper()
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("LOCK_TEST_ETCD_BIN=%s: %v", bin, err)
	}
	c := &procCluster{
		bin:   bin,
		dir:   t.TempDir(), // removed after the members die: cleanups run last first
		token: fmt.Sprintf("distlock-member-failure-%d-%d", os.Getpid(), time.Now().UnixNano()),
	}
	ports := freeLoopbackPorts(t, 6)
	var initial []string
	for i := range 3 {
		m := &procMember{name: fmt.Sprintf("m%d", i+1), clientPort: ports[2*i], pport: ports[2*i+1]}
		m.dataDir = filepath.Join(c.dir, m.name+".etcd")
		m.endpoint = fmt.Sprintf("127.0.0.1:%d", m.clientPort)
		m.clientURL = "http://" + m.endpoint
		m.peer = fmt.Sprintf("http://127.0.0.1:%d", m.pport)
		initial = append(initial, m.name+"="+m.peer)
		c.members = append(c.members, m)
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(func() {
		for _, m := range c.members {
			c.stop(t, m)
		}
		if t.Failed() {
			for _, m := range c.members {
				for _, path := range m.logs {
					t.Logf("tail of %s:\n%s", path, logTail(path, 40))
				}
			}
		}
	})
	for _, m := range c.members {
		c.start(t, m)
	}
	for _, m := range c.members {
		c.waitHealthy(t, m)
	}
	return c
}

// freeLoopbackPorts returns n distinct loopback ports that were free a moment
// ago.
func freeLoopbackPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // all held until all are chosen: no port twice
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func (c *procCluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.endpoint)
	}
	return eps
}

// start starts m, on its data directory: a first start makes the member,
// a later one makes it rejoin the cluster from its write-ahead log.
func (c *procCluster) start(t *testing.T, m *procMember) {
	t.Helper()
	logPath := filepath.Join(c.dir, fmt.Sprintf("%s-%d.log", m.name, len(m.logs)+1))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	m.logs = append(m.logs, logPath)
	cmd := exec.Command(c.bin,
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peer,
		"--initial-advertise-peer-urls", m.peer,
		"--initial-cluster", c.initial,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", c.token,
	)
	cmd.Dir = c.dir
	// No ETCD_* variable of the environment configures the member.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// The member dies with the test process, should it be killed (by
	// go test's timeout) before its cleanups run. (The signal follows
	// the thread that started it: Go ends a thread only when a goroutine
	// locked to it by runtime.LockOSThread exits without unlocking it.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting etcd member %s: %v", m.name, err)
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(m.exited)
}

// kill kills m with SIGKILL, and waits until it has exited.
func (c *procCluster) kill(t *testing.T, m *procMember) {
	t.Helper()
	if m.exited == nil {
		t.Fatalf("kill: member %s is not running", m.name)
	}
	if err := m.cmd.Process.Kill(); err != nil {
		t.Errorf("SIGKILL to member %s: %v", m.name, err)
	}
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("member %s did not exit within 10s of SIGKILL", m.name)
	}
	m.cmd, m.exited = nil, nil
}

// stop kills m if it runs.
func (c *procCluster) stop(t *testing.T, m *procMember) {
	if m.exited != nil {
		c.kill(t, m)
	}
}

// client returns a client of the endpoints of ms (of all members if none
// is given), which the caller closes.
func (c *procCluster) client(t *testing.T, ms ...*procMember) *clientv3.Client {
	t.Helper()
	if len(ms) == 0 {
		ms = c.members
	}
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.endpoint)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("etcd client of %v: %v", eps, err)
	}
	return cli
}

// waitHealthy waits, at most 30s, until m serves a linearizable read,
// which needs a leader and a quorum that m is part of, and learns its id.
func (c *procCluster) waitHealthy(t *testing.T, m *procMember) {
	t.Helper()
	cli := c.client(t, m)
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-m.exited:
			t.Fatalf("member %s exited before it was healthy (%v); the tail of its log:\n%s", m.name, m.cmd.ProcessState, logTail(m.logs[len(m.logs)-1], 40))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "member-failure/health")
		var st *clientv3.StatusResponse
		if err == nil {
			st, err = cli.Status(ctx, m.endpoint)
		}
		cancel()
		if err == nil {
			m.id = st.Header.MemberId
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member %s not healthy within 30s: %v; the tail of its log:\n%s", m.name, err, logTail(m.logs[len(m.logs)-1], 40))
		}
		sleepFor(50 * time.Millisecond)
	}
}

// leader returns the member that says it leads, among the running ones
// but not, polling at most 30s until there is one.
func (c *procCluster) leader(t *testing.T, not *procMember) *procMember {
	t.Helper()
	var live []*procMember
	for _, m := range c.members {
		if m.exited != nil && m != not {
			live = append(live, m)
		}
	}
	cli := c.client(t, live...)
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	var errs []error
	for {
		errs = errs[:0]
		for _, m := range live {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			st, err := cli.Status(ctx, m.endpoint)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
				continue
			}
			if st.Leader != 0 && st.Leader == st.Header.MemberId {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader among the running members within 30s (%v)", errors.Join(errs...))
		}
		sleepFor(20 * time.Millisecond)
	}
}

// followerOf returns a running member other than leader.
func (c *procCluster) followerOf(leader *procMember) *procMember {
	for _, m := range c.members {
		if m != leader && m.exited != nil {
			return m
		}
	}
	return nil
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-n):], []byte("\n")))
}
