//go:build linux

package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
	"github.com/distlock/lock/postgres"
)

// TestServerCrash crashes a PostgreSQL server of its own while locks are
// held on it (every process of the server killed by SIGKILL, no shutdown),
// starts it again on the same data directory and port, and checks that
// the crash lost nothing: each lock still refuses another owner, its
// holder extends and releases it, a lease kept alive over the outage
// lasts, the calls made during the outage fail with lock.ErrUnavailable
// (not a hang, not an answer), and the fences handed out afterwards are
// above every fence handed out before.
//
// It needs the server binaries (initdb, postgres): set
// LOCK_TEST_POSTGRES_BIN to their directory. It is Linux only: it finds
// the server's processes in /proc.
func TestServerCrash(t *testing.T) {
	srv := startCrashServer(t)
	ctx := context.Background()

	const (
		nKeys   = 20
		ttl     = 60 * time.Second
		keptTTL = 15 * time.Second // of the lease kept alive over the crash
		keptInt = time.Second      // its keep-alive's interval
		// availBound bounds how long the calls after the restart may
		// fail with lock.ErrUnavailable while the pools reconnect.
		availBound = 20 * time.Second
		// callBound bounds any one call: a statement's timeout is
		// postgres.DefaultTimeout, and the wait for a connection of the
		// pool ten of them. A call that reaches it hangs.
		callBound = 15 * time.Second
	)
	lockURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?retry_interval=50ms", srv.port)

	open := func(name string) lock.Lock {
		t.Helper()
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		l, err := lock.Open(octx, lockURL)
		if err != nil {
			t.Fatalf("lock.Open (%s): %v", name, err)
		}
		t.Cleanup(func() {
			if err := l.Close(); err != nil {
				t.Errorf("Close (%s): %v", name, err)
			}
		})
		return l
	}
	holder := open("holder")
	other := open("other")

	// The Lock of the lease kept alive over the crash: made with New, so
	// that its logger tells when the keep-alive's extends fail.
	logs := &recordHandler{}
	kpool, err := pgxpool.New(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?connect_timeout=2", srv.port))
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	t.Cleanup(kpool.Close) // after the Lock's Close: cleanups run last first
	keeperLock := mustNew(t, kpool, &postgres.Options{Options: lock.Options{RetryInterval: 50 * time.Millisecond, Logger: slog.New(logs)}})
	t.Cleanup(func() {
		if err := keeperLock.Close(); err != nil {
			t.Errorf("Close (keep-alive Lock): %v", err)
		}
	})

	// call runs f bounded by callBound, and fails the test if it hangs.
	var slowest time.Duration
	call := func(what string, f func(ctx context.Context) error) error {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, callBound)
		defer cancel()
		start := time.Now()
		err := f(cctx)
		d := time.Since(start)
		slowest = max(slowest, d)
		if cctx.Err() != nil {
			t.Fatalf("%s hung: no answer within %v (err %v)", what, callBound, err)
		}
		return err
	}
	// retrying runs f until it returns anything but lock.ErrUnavailable,
	// within availBound, and returns that, with the number of failures.
	retrying := func(what string, f func(ctx context.Context) error) (int, error) {
		t.Helper()
		deadline := time.Now().Add(availBound)
		for n := 0; ; n++ {
			err := call(what, f)
			if !errors.Is(err, lock.ErrUnavailable) || time.Now().After(deadline) {
				return n, err
			}
			pause(50 * time.Millisecond)
		}
	}

	// Before the crash: nKeys leases, a key acquired and released, and a
	// lease kept alive.
	keys := make([]string, nKeys)
	leases := make([]*lock.Lease, nKeys)
	fenceBefore := make([]uint64, nKeys)
	var maxBefore uint64
	for i := range keys {
		keys[i] = fmt.Sprintf("crash:held:%02d", i)
		err := call("TryAcquire "+keys[i], func(ctx context.Context) (err error) {
			leases[i], err = holder.TryAcquire(ctx, keys[i], ttl)
			return err
		})
		if err != nil {
			t.Fatalf("TryAcquire(%q) before the crash: %v", keys[i], err)
		}
		f, ok := leases[i].Fence()
		if !ok {
			t.Fatalf("lease of %q has no fence", keys[i])
		}
		fenceBefore[i], maxBefore = f, max(maxBefore, f)
	}
	const cycled = "crash:cycled"
	var cycledBefore uint64
	{
		le, err := holder.TryAcquire(ctx, cycled, ttl)
		if err != nil {
			t.Fatalf("TryAcquire(%q) before the crash: %v", cycled, err)
		}
		cycledBefore, _ = le.Fence()
		maxBefore = max(maxBefore, cycledBefore)
		if err := le.Release(ctx); err != nil {
			t.Fatalf("Release(%q) before the crash: %v", cycled, err)
		}
	}
	const keptKey = "crash:kept"
	kept, err := keeperLock.TryAcquire(ctx, keptKey, keptTTL)
	if err != nil {
		t.Fatalf("TryAcquire(%q) before the crash: %v", keptKey, err)
	}
	keptFence, _ := kept.Fence()
	maxBefore = max(maxBefore, keptFence)
	if err := kept.KeepAlive(ctx, keptInt); err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}
	t.Logf("before the crash: %d keys held (ttl %v), fences %d..%d; %q acquired and released (fence %d); %q kept alive (ttl %v, every %v, fence %d)",
		nKeys, ttl, minOf(fenceBefore), maxOf(fenceBefore), cycled, cycledBefore, keptKey, keptTTL, keptInt, keptFence)

	// The crash.
	failedBefore := logs.count(keepAliveFailed)
	crashedAt := time.Now()
	killed := srv.crash(t)
	t.Logf("crash: SIGKILL to the %d processes of the server", killed)

	// During the outage: the calls fail with lock.ErrUnavailable, within
	// their bound, and leave the leases alone.
	var outageTry, outageExtend time.Duration
	{
		start := time.Now()
		err := call("TryAcquire during the outage", func(ctx context.Context) error {
			le, err := other.TryAcquire(ctx, "crash:outage", ttl)
			if le != nil {
				t.Errorf("TryAcquire during the outage returned a lease (fence %d)", fenceOf(le))
			}
			return err
		})
		outageTry = time.Since(start)
		if !errors.Is(err, lock.ErrUnavailable) {
			t.Errorf("TryAcquire during the outage: got %v, want an error matching lock.ErrUnavailable", err)
		}
		start = time.Now()
		err = call("Extend during the outage", func(ctx context.Context) error { return leases[0].Extend(ctx, ttl) })
		outageExtend = time.Since(start)
		if !errors.Is(err, lock.ErrUnavailable) {
			t.Errorf("Extend during the outage: got %v, want an error matching lock.ErrUnavailable", err)
		}
		if err := leases[0].Err(); err != nil {
			t.Errorf("lease of %q ended by an extend that failed in transit: %v", keys[0], err)
		}
	}
	// The server stays down until the keep-alive has met the outage.
	waitUntil(t, keptInt+5*time.Second, "a failed extend of the keep-alive during the outage", func() bool {
		return logs.count(keepAliveFailed) > failedBefore
	})

	// The restart, on the same data directory and port.
	restartAt := time.Now()
	srv.start(t)
	upAt := time.Now()
	down := upAt.Sub(crashedAt)
	recovery := srv.lastLog(t)
	if !strings.Contains(recovery, "automatic recovery in progress") {
		t.Errorf("the restart did not run crash recovery; its log:\n%s", recovery)
	}
	t.Logf("the server was down %v (restart to accepting connections: %v); outage calls: TryAcquire failed in %v, Extend in %v",
		down.Round(time.Millisecond), upAt.Sub(restartAt).Round(time.Millisecond), outageTry.Round(time.Millisecond), outageExtend.Round(time.Millisecond))

	// (1) Every lock survived: another owner is refused.
	survived, unavailAfter := 0, 0
	for i, key := range keys {
		var stolen *lock.Lease
		n, err := retrying("TryAcquire "+key+" after the restart", func(ctx context.Context) (err error) {
			stolen, err = other.TryAcquire(ctx, key, ttl)
			return err
		})
		unavailAfter += n
		switch {
		case stolen != nil:
			t.Errorf("lock of %q lost in the crash: another owner acquired it (fence %d; the holder's was %d)", key, fenceOf(stolen), fenceBefore[i])
			_ = stolen.Release(ctx)
		case errors.Is(err, lock.ErrNotAcquired):
			survived++
		default:
			t.Errorf("TryAcquire(%q) after the restart (%d failures in transit before): got %v, want lock.ErrNotAcquired", key, n, err)
		}
	}

	// (2) The holder's leases are still live, and extend.
	extended := 0
	for i, key := range keys {
		if err := leases[i].Err(); err != nil {
			t.Errorf("lease of %q ended over the crash: %v", key, err)
			continue
		}
		n, err := retrying("Extend "+key, func(ctx context.Context) error { return leases[i].Extend(ctx, ttl) })
		unavailAfter += n
		if err != nil {
			t.Errorf("Extend(%q) after the restart: %v", key, err)
			continue
		}
		extended++
	}

	// The lease kept alive over the crash lasts: an extend made after
	// the restart lands.
	waitUntil(t, keptTTL, "an extend of the keep-alive after the restart", func() bool {
		select {
		case <-kept.Done():
			return true
		default:
		}
		return kept.Deadline().After(upAt.Add(keptTTL))
	})
	keptFailed := logs.count(keepAliveFailed) - failedBefore
	if err := kept.Err(); err != nil {
		t.Errorf("lease kept alive over the crash lost: %v (logs: %s)", err, logs.text())
	} else if n := logs.count("lock lost"); n != 0 {
		t.Errorf("the keep-alive logged %d losses: %s", n, logs.text())
	}

	// (3) Released, the keys go to new owners, with greater fences.
	fenceAfter := make([]uint64, 0, nKeys+1)
	for i, key := range keys {
		if leases[i].Err() != nil {
			continue
		}
		if _, err := retrying("Release "+key, leases[i].Release); err != nil {
			t.Errorf("Release(%q) after the restart: %v", key, err)
			continue
		}
		var le *lock.Lease
		if _, err := retrying("TryAcquire "+key+" after its release", func(ctx context.Context) (err error) {
			le, err = other.TryAcquire(ctx, key, ttl)
			return err
		}); err != nil {
			t.Errorf("TryAcquire(%q) after its release: %v", key, err)
			continue
		}
		f := fenceOf(le)
		fenceAfter = append(fenceAfter, f)
		if f <= maxBefore {
			t.Errorf("fence of %q after the crash %d, not above %d, the greatest before it", key, f, maxBefore)
		}
		if err := le.Release(ctx); err != nil {
			t.Errorf("Release(%q) of its new owner: %v", key, err)
		}
	}

	// (4) The key released before the crash: its fence grows too.
	{
		var le *lock.Lease
		if _, err := retrying("TryAcquire "+cycled, func(ctx context.Context) (err error) {
			le, err = other.TryAcquire(ctx, cycled, ttl)
			return err
		}); err != nil {
			t.Errorf("TryAcquire(%q) after the restart: %v", cycled, err)
		} else {
			f := fenceOf(le)
			fenceAfter = append(fenceAfter, f)
			if f <= cycledBefore || f <= maxBefore {
				t.Errorf("fence of %q after the crash %d, not above its fence before, %d, and the greatest before, %d", cycled, f, cycledBefore, maxBefore)
			}
			t.Logf("%q: fence %d before the crash, %d after", cycled, cycledBefore, f)
			if err := le.Release(ctx); err != nil {
				t.Errorf("Release(%q): %v", cycled, err)
			}
		}
	}
	if err := kept.Release(ctx); err != nil {
		t.Errorf("Release(%q), kept alive over the crash: %v", keptKey, err)
	}

	t.Logf("after the restart: %d/%d locks survived (refused to another owner), %d/%d extended; %d calls failed with lock.ErrUnavailable while the pools reconnected",
		survived, nKeys, extended, nKeys, unavailAfter)
	t.Logf("keep-alive over the crash: lease lasted (deadline %v past the restart), %d extends failed in transit and were retried",
		kept.Deadline().Sub(upAt).Round(time.Millisecond), keptFailed)
	if len(fenceAfter) > 0 {
		t.Logf("fences: %d..%d before the crash, %d..%d after (the least after is %d above the greatest before); slowest call %v",
			minOf(fenceBefore), maxBefore, minOf(fenceAfter), maxOf(fenceAfter), minOf(fenceAfter)-min(minOf(fenceAfter), maxBefore), slowest.Round(time.Millisecond))
	}
	if survived != nKeys || extended != nKeys {
		t.Errorf("%d of %d locks survived, %d extended", survived, nKeys, extended)
	}
}

// keepAliveFailed is the message a Lock logs when a keep-alive's extend
// fails in transit.
const keepAliveFailed = "lock keep-alive extend failed; retrying"

// recordHandler is a slog.Handler that keeps the messages it gets.
type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.msgs = append(h.msgs, b.String())
	h.mu.Unlock()
	return nil
}

func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// count returns how many messages begin with msg.
func (h *recordHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if strings.HasPrefix(m, msg) {
			n++
		}
	}
	return n
}

func (h *recordHandler) text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.msgs, "\n")
}

func fenceOf(le *lock.Lease) uint64 {
	f, _ := le.Fence()
	return f
}

func minOf(fs []uint64) uint64 {
	m := fs[0]
	for _, f := range fs {
		m = min(m, f)
	}
	return m
}

func maxOf(fs []uint64) uint64 {
	m := fs[0]
	for _, f := range fs {
		m = max(m, f)
	}
	return m
}

// pause sleeps for d: the pause of a poll, not a synchronisation.
func pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}

// waitUntil polls cond until it holds, failing the test after bound.
func waitUntil(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, bound)
		}
		pause(20 * time.Millisecond)
	}
}

// crashServer is a PostgreSQL server that a test runs, as a child
// process, on a data directory of its own.
type crashServer struct {
	bin  string // of initdb and postgres
	base string // temporary: the data directory, the socket, the logs
	data string
	port int
	cred *syscall.Credential // of the postgres user, when the test runs as root

	cmd    *exec.Cmd // the postmaster; nil when not running
	exited chan struct{}
	starts int
}

// startCrashServer initialises a data directory and starts a server on
// it, on a free loopback port; the server is stopped and the directory
// removed when the test ends. It skips the test unless
// LOCK_TEST_POSTGRES_BIN names the directory of the server binaries.
func startCrashServer(t *testing.T) *crashServer {
	t.Helper()
	bin := os.Getenv("LOCK_TEST_POSTGRES_BIN")
	if bin == "" {
		t.Skip("LOCK_TEST_POSTGRES_BIN is not set: set it to the directory of the PostgreSQL server binaries, initdb and postgres (e.g. /usr/lib/postgresql/15/bin), to run the server crash test")
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			t.Fatalf("LOCK_TEST_POSTGRES_BIN=%s: %v", bin, err)
		}
	}
	s := &crashServer{bin: bin}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run it as postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and PostgreSQL refuses to: no user postgres to run it as: %v", err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("user postgres: %v", err)
		}
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	base, err := os.MkdirTemp(os.TempDir(), "distlock-pgcrash-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(base); err != nil {
			t.Errorf("removing %s: %v", base, err)
		}
	})
	s.base, s.data = base, filepath.Join(base, "data")
	if s.cred != nil {
		if err := os.Chmod(base, 0o777); err != nil {
			t.Fatal(err)
		}
		// The postgres user must reach base: each directory above it must
		// let others through.
		for dir := filepath.Dir(base); ; dir = filepath.Dir(dir) {
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o001 == 0 {
				t.Fatalf("%s (mode %v), above the server's directory %s, does not let the postgres user through: set TMPDIR to a directory it can reach", dir, fi.Mode().Perm(), base)
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	var out bytes.Buffer
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", s.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
	initdb.Stdout, initdb.Stderr = &out, &out
	if err := initdb.Run(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out.String())
	}
	s.port = freePort(t)
	t.Cleanup(func() { s.stop(t) }) // before base goes: cleanups run last first
	s.start(t)
	return s
}

// command returns cmd, run as the postgres user when the test is root,
// in the server's directory.
func (s *crashServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.base
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// logPath is the server's log of its n-th start.
func (s *crashServer) logPath(n int) string {
	return filepath.Join(s.base, fmt.Sprintf("server-%d.log", n))
}

// lastLog returns the log of the last start.
func (s *crashServer) lastLog(t *testing.T) string {
	b, err := os.ReadFile(s.logPath(s.starts))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// start starts the postmaster and waits until it accepts connections.
func (s *crashServer) start(t *testing.T) {
	t.Helper()
	s.starts++
	logf, err := os.Create(s.logPath(s.starts))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", s.data, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.base, "-c", "fsync=on")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(s.exited)

	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?connect_timeout=1", s.port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			s.cmd = nil
			t.Fatalf("postgres exited before accepting connections (%v); its log:\n%s", cmd.ProcessState, s.lastLog(t))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			err = conn.Ping(ctx)
			_ = conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres does not accept connections after 30s: %v; its log:\n%s", err, s.lastLog(t))
		}
		pause(20 * time.Millisecond)
	}
}

// crash kills every process of the server with SIGKILL, at once: the
// postmaster is stopped first, so that it forks no new one, and its
// children (which PostgreSQL puts in sessions of their own) are found in
// /proc. It returns when none of them runs, with their number.
func (s *crashServer) crash(t *testing.T) int {
	t.Helper()
	if s.cmd == nil {
		t.Fatal("crash: the server is not running")
	}
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP to the postmaster: %v", err)
	}
	kids := childrenOf(t, pid)
	for _, k := range kids {
		if err := syscall.Kill(k, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("SIGKILL to %d: %v", k, err)
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL to the postmaster: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the postmaster did not die of SIGKILL within 10s")
	}
	s.cmd = nil
	// The children are no longer ours: wait until each is gone or a
	// zombie, which holds no shared memory.
	waitUntil(t, 10*time.Second, "end of the server's processes after SIGKILL", func() bool {
		for _, k := range kids {
			if st := procState(k); st != "" && st != "Z" {
				return false
			}
		}
		return true
	})
	return 1 + len(kids)
}

// stop ends the server, if it runs: a fast shutdown, or a crash if that
// does not end it within 15s.
func (s *crashServer) stop(t *testing.T) {
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err == nil {
		select {
		case <-s.exited:
			s.cmd = nil
			return
		case <-time.After(15 * time.Second):
			t.Errorf("postgres did not shut down within 15s of SIGINT: killing it")
		}
	}
	s.crash(t)
}

// childrenOf returns the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("reading /proc: %v", err)
	}
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := procStat(p); ppid == pid {
			kids = append(kids, p)
		}
	}
	return kids
}

// procState returns the state of process pid ("R", "S", "Z"...), or ""
// if there is none.
func procState(pid int) string {
	_, st := procStat(pid)
	return st
}

// procStat returns the parent and the state of process pid, from
// /proc/pid/stat: "pid (comm) state ppid ...", comm possibly holding
// spaces and parentheses.
func procStat(pid int) (ppid int, state string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0]
}
