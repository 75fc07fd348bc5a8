//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock/internal/testnet"
	"github.com/distlock/lock/memcached"
)

// The tests below run the distlock binary, built by the test, with this
// test binary as its COMMAND (see helper in main_test.go), on every store
// that stores returns.

// A proc is a distlock process started by a test.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	start, end     time.Time
	done           chan struct{}
	code           int // distlock's exit status, once done is closed
}

// startDistlock starts distlock with args, with stdin as its standard input,
// and the environment of the test without LOCK_URL.
func startDistlock(t *testing.T, stdin string, env []string, args ...string) *proc {
	t.Helper()
	bin := distlockBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Env = append(testEnv(), env...)
	p.cmd.Stdin = strings.NewReader(stdin)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.WaitDelay = 5 * time.Second // a helper left behind keeps the pipes open
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer cancel()
		defer close(p.done)
		p.cmd.Wait()
		p.end = time.Now()
		p.code = childStatus(p.cmd.ProcessState)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// wait waits for p to exit and returns p.
func (p *proc) wait(t *testing.T) *proc {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("distlock %q did not exit within a minute", p.cmd.Args[1:])
	}
	return p
}

func (p *proc) elapsed() time.Duration { return p.end.Sub(p.start) }

// runDistlock runs distlock with args and returns it once it exited.
func runDistlock(t *testing.T, args ...string) *proc {
	t.Helper()
	return startDistlock(t, "", nil, args...).wait(t)
}

// testEnv is the environment of the distlock processes: the test's,
// without LOCK_URL and DISTLOCK_*, with the helper switched on, and without
// the second that a program built with -race sleeps as it exits.
func testEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOCK_URL=") && !strings.HasPrefix(kv, "DISTLOCK_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return append(env, helperEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// self is the helper program: this test binary.
func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// waitFile waits until name exists, and returns its content.
func waitFile(t *testing.T, name string, p *proc) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(name); err == nil {
			return string(b)
		}
		select {
		case <-p.done:
			t.Fatalf("distlock exited with %d before %s appeared; stderr: %q", p.code, filepath.Base(name), p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 30s", name)
		}
	}
}

// wantCode checks p's exit status, and that what it wrote on stderr is one
// line (or nothing, for a status that is the child's).
func wantCode(t *testing.T, p *proc, want int) {
	t.Helper()
	if p.code != want {
		t.Errorf("distlock %q exited with %d; want %d; stderr: %q", p.cmd.Args[1:], p.code, want, p.stderr.String())
	}
}

func wantOneLine(t *testing.T, p *proc, contains string) {
	t.Helper()
	msg := p.stderr.String()
	if !strings.HasPrefix(msg, "distlock: ") || strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
		t.Errorf("distlock %q wrote %q on stderr; want one line that starts with \"distlock: \"", p.cmd.Args[1:], msg)
	}
	if !strings.Contains(msg, contains) {
		t.Errorf("distlock %q wrote %q on stderr; want it to say %q", p.cmd.Args[1:], msg, contains)
	}
}

// eachStore runs f on every store, in parallel.
func eachStore(t *testing.T, f func(t *testing.T, s store)) {
	for _, s := range stores(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			f(t, s)
		})
	}
}

// TestSerialise runs three distlock on one key at once; the spans their
// children write (start and end times) must not overlap.
func TestSerialise(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		key, dir := newKey("serialise"), t.TempDir()
		const n, hold = 3, 400 * time.Millisecond
		procs := make([]*proc, n)
		for i := range procs {
			procs[i] = startDistlock(t, "", nil, "run", "-url", s.url, "-wait", "1m", key, "--",
				self(t), "stamp", filepath.Join(dir, strconv.Itoa(i)), hold.String())
		}
		type span struct{ start, end int64 }
		var spans []span
		for i, p := range procs {
			wantCode(t, p.wait(t), 0)
			b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
			if err != nil {
				t.Fatal(err)
			}
			var sp span
			if _, err := fmt.Sscanf(string(b), "start %d\nend %d\n", &sp.start, &sp.end); err != nil {
				t.Fatalf("child %d wrote %q: %v", i, b, err)
			}
			spans = append(spans, sp)
		}
		slices.SortFunc(spans, func(a, b span) int { return int(a.start - b.start) })
		for i := 1; i < len(spans); i++ {
			gap := time.Duration(spans[i].start - spans[i-1].end)
			if gap < 0 {
				t.Errorf("child %d started %v before child %d ended; want no overlap", i, -gap, i-1)
			} else {
				t.Logf("hand-off %d: %v from the end of one child to the start of the next", i, gap)
			}
		}
	})
}

// TestBusy: with -wait 0, a busy key exits with 75 at once, without
// starting the child; with -wait, after the wait; -q silences the message.
func TestBusy(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		key, dir := newKey("busy"), t.TempDir()
		ready, ran := filepath.Join(dir, "ready"), filepath.Join(dir, "ran")
		holder := startDistlock(t, "", nil, "run", "-url", s.url, key, "--", self(t), "hold", ready)
		waitFile(t, ready, holder)

		p := runDistlock(t, "run", "-url", s.url, "-wait", "0", key, "--", self(t), "touch", ran)
		wantCode(t, p, exitBusy)
		wantOneLine(t, p, "busy")
		if p.elapsed() > time.Second {
			t.Errorf("-wait 0 on a busy key took %v; want under 1s", p.elapsed())
		}
		t.Logf("-wait 0 on a busy key: exit %d after %v", p.code, p.elapsed())

		const wait = 300 * time.Millisecond
		p = runDistlock(t, "run", "-url", s.url, "-wait", wait.String(), key, "--", self(t), "touch", ran)
		wantCode(t, p, exitBusy)
		wantOneLine(t, p, "-wait 300ms")
		if p.elapsed() < wait || p.elapsed() > wait+time.Second {
			t.Errorf("-wait %v on a busy key took %v; want %v to %v", wait, p.elapsed(), wait, wait+time.Second)
		}
		t.Logf("-wait %v on a busy key: exit %d after %v", wait, p.code, p.elapsed())

		p = runDistlock(t, "run", "-q", "-url", s.url, key, "--", self(t), "touch", ran)
		wantCode(t, p, exitBusy)
		if p.stderr.Len() != 0 {
			t.Errorf("-q on a busy key wrote %q on stderr; want nothing", p.stderr.String())
		}

		if _, err := os.Stat(ran); err == nil {
			t.Error("the child of a distlock that found the key busy ran")
		}
		holder.cmd.Process.Signal(syscall.SIGTERM)
		wantCode(t, holder.wait(t), exitSignalBase+int(syscall.SIGTERM))
	})
}

// TestLost deletes the lock behind distlock's back: the child gets SIGTERM
// and distlock exits with 76 within one extend interval (ttl/3).
func TestLost(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		key, dir := newKey("lost"), t.TempDir()
		ready := filepath.Join(dir, "ready")
		const ttl = 3 * time.Second
		p := startDistlock(t, "", nil, "run", "-url", s.url, "-ttl", ttl.String(), key, "--", self(t), "hold", ready)
		waitFile(t, ready, p)
		deleted := time.Now()
		s.delete(t, key)
		p.wait(t)
		wantCode(t, p, exitLost)
		wantOneLine(t, p, "lost the lock")
		took := p.end.Sub(deleted)
		if limit := ttl/3 + time.Second; took > limit {
			t.Errorf("distlock exited %v after the lock was deleted; want within %v (one extend interval, %v, and a margin)", took, limit, ttl/3)
		}
		sig := waitFile(t, ready+".sig", p)
		var nanos int64
		if _, err := fmt.Sscanf(sig, "SIGTERM %d", &nanos); err != nil {
			t.Fatalf("the child noted %q; want SIGTERM", sig)
		}
		t.Logf("key deleted; %v later the child got SIGTERM, %v later distlock exited %d",
			time.Unix(0, nanos).Sub(deleted), took, p.code)
	})
}

// TestLostGrace: a child that ignores SIGTERM is killed after -grace.
func TestLostGrace(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		key, dir := newKey("grace"), t.TempDir()
		ready := filepath.Join(dir, "ready")
		const ttl, grace = 3 * time.Second, 500 * time.Millisecond
		p := startDistlock(t, "", nil, "run", "-url", s.url, "-ttl", ttl.String(), "-grace", grace.String(), key, "--",
			self(t), "stubborn", ready)
		waitFile(t, ready, p)
		deleted := time.Now()
		s.delete(t, key)
		p.wait(t)
		wantCode(t, p, exitLost)
		msg := p.stderr.String()
		if !strings.Contains(msg, "lost the lock") || !strings.Contains(msg, "killed it") || strings.Count(msg, "\n") != 2 {
			t.Errorf("stderr: %q; want a line that the lock was lost and one that the child was killed", msg)
		}
		sig := waitFile(t, ready+".sig", p)
		var nanos int64
		if _, err := fmt.Sscanf(sig, "SIGTERM %d", &nanos); err != nil {
			t.Fatalf("the child noted %q; want SIGTERM", sig)
		}
		// The grace runs from when distlock sent SIGTERM; the child notes
		// the time after the signal reached it and woke it, a little later.
		killed := p.end.Sub(time.Unix(0, nanos))
		if least := grace - 50*time.Millisecond; killed < least || killed > grace+time.Second {
			t.Errorf("distlock exited %v after the child got SIGTERM; want %v to %v (-grace, less the signal's delivery)", killed, least, grace+time.Second)
		}
		t.Logf("key deleted; %v later the child got SIGTERM; %v after that it was killed and distlock exited %d",
			time.Unix(0, nanos).Sub(deleted), killed, p.code)
	})
}

// TestSignal: SIGTERM sent to distlock reaches the child; distlock exits as
// the child did (143), and the key is free afterwards.
func TestSignal(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		key, dir := newKey("signal"), t.TempDir()
		ready := filepath.Join(dir, "ready")
		p := startDistlock(t, "", nil, "run", "-url", s.url, key, "--", self(t), "hold", ready)
		waitFile(t, ready, p)
		if !s.held(t, key) {
			t.Fatalf("the store holds no lock on %q while the child runs", key)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t)
		wantCode(t, p, exitSignalBase+int(syscall.SIGTERM))
		if p.stderr.Len() != 0 {
			t.Errorf("stderr: %q; want nothing", p.stderr.String())
		}
		if sig := waitFile(t, ready+".sig", p); !strings.HasPrefix(sig, "SIGTERM ") {
			t.Errorf("the child noted %q; want SIGTERM", sig)
		}
		if s.held(t, key) {
			t.Errorf("the store still holds %q after distlock exited", key)
		}
		ran := filepath.Join(dir, "ran")
		wantCode(t, runDistlock(t, "run", "-url", s.url, key, "--", self(t), "touch", ran), 0)
		if _, err := os.Stat(ran); err != nil {
			t.Errorf("the next distlock on the key did not run its child: %v", err)
		}
	})
}

// TestPassThrough: the child's stdin, stdout, stderr and exit status pass
// through unchanged, and it sees DISTLOCK_KEY and DISTLOCK_TOKEN.
func TestPassThrough(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s store) {
		key := newKey("pass")
		p := startDistlock(t, "hello\nworld\n", nil, "run", "-url", s.url, key, "--", self(t), "echo", "7").wait(t)
		wantCode(t, p, 7)
		out := p.stdout.String()
		prefix := "out\nhello\nworld\nkey=" + key + "\ntoken="
		token, ok := strings.CutPrefix(out, prefix)
		token, nl := strings.CutSuffix(token, "\n")
		if !ok || !nl || len(token) < 26 || strings.ContainsAny(token, "\n ") {
			t.Errorf("stdout: %q; want %q, a token of at least 26 characters, and a newline", out, prefix)
		}
		if got := p.stderr.String(); got != "err\n" {
			t.Errorf("stderr: %q; want %q", got, "err\n")
		}
		p = runDistlock(t, "run", "-url", s.url, key, "--", self(t), "die", "9")
		wantCode(t, p, exitSignalBase+9)
		if p.stderr.Len() != 0 {
			t.Errorf("stderr: %q; want nothing", p.stderr.String())
		}
		if s.held(t, key) {
			t.Errorf("the store still holds %q after distlock exited", key)
		}
	})
}

// TestInterruptWhileWaiting: SIGINT ends a wait with 130; the child never
// starts. It runs on the fake memcached, whose connection count tells when
// distlock is past its start (and catches signals).
func TestInterruptWhileWaiting(t *testing.T) {
	t.Parallel()
	s := fakeMemcached(t)
	srv := s.fake
	key, dir := newKey("interrupt"), t.TempDir()
	ready, ran := filepath.Join(dir, "ready"), filepath.Join(dir, "ran")
	holder := startDistlock(t, "", nil, "run", "-url", s.url, key, "--", self(t), "hold", ready)
	waitFile(t, ready, holder)
	conns := srv.TotalConnections()
	p := startDistlock(t, "", nil, "run", "-url", s.url, "-wait", "forever", key, "--", self(t), "touch", ran)
	for srv.TotalConnections() == conns {
		select {
		case <-p.done:
			t.Fatalf("the waiting distlock exited with %d; stderr: %q", p.code, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	p.wait(t)
	wantCode(t, p, exitSignalBase+int(syscall.SIGINT))
	wantOneLine(t, p, "interrupted by SIGINT")
	if _, err := os.Stat(ran); err == nil {
		t.Error("the child of an interrupted wait ran")
	}
	holder.cmd.Process.Signal(syscall.SIGTERM)
	holder.wait(t)
}

// TestStoreFailsDuringWait stops the store while one distlock holds a key
// and another waits for it: the waiter exits with 69 (the store failed, the
// key may be free) when its -wait ends, and the holder with 76 once the
// ttl passes without an extend.
func TestStoreFailsDuringWait(t *testing.T) {
	t.Parallel()
	s := fakeMemcached(t)
	srv := s.fake
	key, dir := newKey("storefails"), t.TempDir()
	ready, ran := filepath.Join(dir, "ready"), filepath.Join(dir, "ran")
	// The holder extends every ttl/3, so a -ttl of 1.5s rides out a
	// pause of a second; the waiter's Close waits closeTimeout, not the
	// default 2s, for the background release.
	const ttl, wait, closeTimeout = 1500 * time.Millisecond, time.Second, 500 * time.Millisecond
	holder := startDistlock(t, "", nil, "run", "-url", s.url, "-ttl", ttl.String(), key, "--", self(t), "hold", ready)
	waitFile(t, ready, holder)
	// An attempt of the waiter (the holder sends no acquire) tells that it
	// is waiting; its reply is dropped, a failure in transit. The fault is
	// set once the waiter has connected. The holder's extends are "ms"
	// commands too: one that meets the fault first is told by the cas id
	// it changed (an attempt on a held key changes nothing), and the fault
	// set again for the next "ms": the waiter's next attempt, a retry
	// interval later, well before the holder's next extend (ttl/3).
	c := memcache.New(srv.Addr())
	defer c.Close()
	casID := func() uint64 {
		it, err := c.Get(memcached.DefaultPrefix + key)
		if err != nil {
			return 0
		}
		return it.CasID
	}
	last := casID() // c connects here, not below
	conns := srv.TotalConnections()
	waiter := startDistlock(t, "", nil, "run", "-url", s.url+"?close_timeout="+closeTimeout.String(), "-wait", wait.String(), key, "--", self(t), "touch", ran)
	for srv.TotalConnections() == conns {
		select {
		case <-waiter.done:
			t.Fatalf("the waiter exited with %d before it connected; stderr: %q", waiter.code, waiter.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	attempted := make(chan struct{})
	var arm func()
	arm = func() {
		srv.LateReply("ms", func() {
			if now := casID(); now != last {
				last = now // the holder's extend: its next one reads the cas id
				arm()
				return
			}
			close(attempted)
		})
	}
	last = casID()
	arm()
	select {
	case <-attempted:
	case <-waiter.done:
		t.Fatalf("the waiter exited with %d before an attempt; stderr: %q", waiter.code, waiter.stderr.String())
	}
	stopped := time.Now()
	srv.Close()

	waiter.wait(t)
	wantCode(t, waiter, exitUnavailable)
	wantOneLine(t, waiter, "failed while waiting")
	// Close then gives the background release of the attempt whose reply
	// was lost up to close_timeout.
	if limit := wait + closeTimeout + time.Second; waiter.elapsed() > limit {
		t.Errorf("the waiter exited after %v; want within -wait %v, Close's %v and a margin", waiter.elapsed(), wait, closeTimeout)
	}
	holder.wait(t)
	wantCode(t, holder, exitLost)
	wantOneLine(t, holder, "lost the lock")
	if took := holder.end.Sub(stopped); took > ttl+time.Second {
		t.Errorf("the holder exited %v after the store stopped; want within -ttl %v and a margin", took, ttl)
	} else {
		t.Logf("store stopped; the holder exited %d after %v; the waiter %d after %v", holder.code, took, waiter.code, waiter.end.Sub(stopped))
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the waiter's child ran")
	}
}

// TestErrors: mistakes on the command line and stores that cannot be
// reached exit with their codes and a message of one line that says what
// to fix, never with a stack trace or a password.
func TestErrors(t *testing.T) {
	t.Parallel()
	fake := fakeMemcached(t)
	closed := testnet.ClosedAddr(t)
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		says string
	}{
		{"NoURL", nil, []string{"run", "k", "--", "true"}, exitUsage, "set LOCK_URL"},
		{"LOCK_URL", []string{"LOCK_URL=memcached://" + closed}, []string{"run", "k", "--", "true"}, exitUnavailable, "cannot reach"},
		{"NoScheme", nil, []string{"run", "-url", "127.0.0.1:11211", "k", "--", "true"}, exitUsage, "no scheme"},
		{"Memory", nil, []string{"run", "-url", "memory://x", "k", "--", "true"}, exitUsage, "inside one process"},
		{"UnknownScheme", nil, []string{"run", "-url", "memcache://h", "k", "--", "true"}, exitUsage, `unknown scheme "memcache"`},
		{"BadURL", nil, []string{"run", "-url", "memcached://h:11211/path", "k", "--", "true"}, exitUsage, "bad -url"},
		{"BadRedisDB", nil, []string{"run", "-url", "redis://h:6379/first", "k", "--", "true"}, exitUsage, "bad -url"},
		{"UnknownParameter", nil, []string{"run", "-url", fake.url + "?colour=blue", "k", "--", "true"}, exitUsage, "colour"},
		{"BadDuration", nil, []string{"run", "-url", fake.url, "-ttl", "30", "k", "--", "true"}, exitUsage, "needs a unit"},
		{"NegativeWait", nil, []string{"run", "-url", fake.url, "-wait", "-1s", "k", "--", "true"}, exitUsage, "-wait"},
		{"ZeroTTL", nil, []string{"run", "-url", fake.url, "-ttl", "0s", "k", "--", "true"}, exitUsage, "positive"},
		{"TTLTooLong", nil, []string{"run", "-url", fake.url, "-ttl", "10000h", "k", "--", "true"}, exitUsage, "-ttl 10000h0m0s"},
		{"NoDashes", nil, []string{"run", "-url", fake.url, "k", "true"}, exitUsage, `no -- between KEY "k" and COMMAND "true"`},
		{"NoKey", nil, []string{"run", "-url", fake.url, "--", "true"}, exitUsage, "no KEY before --"},
		{"MistypedFlag", nil, []string{"run", "-url", fake.url, "-wiat", "1s", "k", "--", "true"}, exitUsage, "-wiat (did you mean -wait?)"},
		{"FlagAfterKey", nil, []string{"run", "k", "-url", fake.url, "--", "true"}, exitUsage, "flags go before KEY"},
		{"NoCommand", nil, []string{"run", "-url", fake.url, "k", "--"}, exitUsage, "no COMMAND"},
		{"UnknownCommand", nil, []string{"lock", "k"}, exitUsage, `unknown command "lock"`},
		{"MemcachedUnreachable", nil, []string{"run", "-url", "memcached://" + closed, "k", "--", "true"}, exitUnavailable, "connection refused"},
		{"RedisUnreachable", nil, []string{"run", "-url", "redis://:hunter2@" + closed + "/0", "k", "--", "true"}, exitUnavailable, "cannot reach"},
		{"NoSuchHost", nil, []string{"run", "-url", "memcached://no-such-host.invalid:11211", "k", "--", "true"}, exitUnavailable, "no-such-host.invalid"},
		// The command is looked up first: the store is not even reached.
		{"CommandNotFound", nil, []string{"run", "-url", "memcached://" + closed, "k", "--", "no-such-command-xyz"}, exitNotFound, "no-such-command-xyz"},
		{"CommandNotExecutable", nil, []string{"run", "-url", fake.url, "k", "--", notExec}, exitCannotRun, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startDistlock(t, "", tc.env, tc.args...).wait(t)
			wantCode(t, p, tc.code)
			wantOneLine(t, p, tc.says)
			for _, bad := range []string{"hunter2", "goroutine ", "panic"} {
				if strings.Contains(p.stderr.String(), bad) {
					t.Errorf("stderr: %q; want no %q", p.stderr.String(), bad)
				}
			}
			if p.stdout.Len() != 0 {
				t.Errorf("stdout: %q; want nothing", p.stdout.String())
			}
		})
	}
}

// TestHelp: -h prints the usage, with examples and the exit statuses, on
// stdout, and exits 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"run", "-h"}, {"help"}} {
		p := runDistlock(t, args...)
		wantCode(t, p, 0)
		if p.stdout.String() != usage || p.stderr.Len() != 0 {
			t.Errorf("distlock %q printed %q on stdout and %q on stderr; want the usage on stdout", args, p.stdout.String(), p.stderr.String())
		}
	}
}
