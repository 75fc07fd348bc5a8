package redis_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// server is a redis-server (or sentinel) process that a test started from
// LOCK_TEST_REDIS_BIN, on a loopback port of its own.
type server struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
	args []string
	log  string // the server's log file
}

// redisBin returns LOCK_TEST_REDIS_BIN, the redis-server binary that the
// tests which stop, kill and fail over servers start themselves, or skips
// the test when it is not set.
func redisBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("LOCK_TEST_REDIS_BIN")
	if bin == "" {
		t.Skip("LOCK_TEST_REDIS_BIN not set")
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("LOCK_TEST_REDIS_BIN: %v", err)
	}
	return bin
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer starts a redis-server without persistence, with args, and
// waits until it answers PING. The test's cleanup kills it. A replica that
// must sync in full (after a failover) starts at once, not after redis's
// default 5s of repl-diskless-sync-delay: the tests' figures leave that
// delay out.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	s := &server{t: t, port: freePort(t)}
	dir := t.TempDir()
	s.log = filepath.Join(dir, "redis.log")
	s.args = append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--repl-diskless-sync-delay", "0", "--dir", dir, "--logfile", s.log}, args...)
	s.start()
	t.Cleanup(s.kill)
	return s
}

// startSentinel starts a sentinel that watches primary as "mymaster",
// with a quorum of 2 and a primary deemed down after downAfter.
func startSentinel(t testing.TB, primary *server, downAfter time.Duration) *server {
	t.Helper()
	s := &server{t: t, port: freePort(t)}
	dir := t.TempDir()
	s.log = filepath.Join(dir, "sentinel.log")
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor mymaster 127.0.0.1 %d 2\n"+
		"sentinel down-after-milliseconds mymaster %d\nsentinel failover-timeout mymaster 10000\nsentinel parallel-syncs mymaster 1\n",
		s.port, dir, s.log, primary.port, downAfter.Milliseconds())
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{conf, "--sentinel"}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(redisBin(s.t), s.args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	c := s.client()
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server %v does not answer", s.args)
		}
	}
}

func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// client returns a client of s alone.
func (s *server) client() *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 5 * time.Second})
}

// signal sends sig to the process: SIGSTOP stalls it, SIGCONT resumes it.
func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v to redis-server on %d: %v", sig, s.port, err)
	}
}

// kill kills the process, if it still runs, and reaps it. If the test
// failed, it logs the end of the server's log, which tells what the
// server saw (a replica's link lost, a failover).
func (s *server) kill() {
	if s.t.Failed() {
		if b, err := os.ReadFile(s.log); err == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			lines = lines[max(0, len(lines)-15):]
			s.t.Logf("the log of redis-server on port %d ends:\n%s", s.port, strings.Join(lines, "\n"))
		}
	}
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// startPair starts a primary and a replica of it, and waits until the
// replica is in sync.
func startPair(t testing.TB) (primary, replica *server) {
	t.Helper()
	primary, replicas := startReplicated(t, 1)
	return primary, replicas[0]
}

// startReplicated starts a primary and n replicas of it, and waits until
// the replicas are in sync.
func startReplicated(t testing.TB, n int) (primary *server, replicas []*server) {
	t.Helper()
	primary = startServer(t)
	for range n {
		replicas = append(replicas, startServer(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.port)))
	}
	c := primary.client()
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if acked, _ := c.Wait(context.Background(), n, 100*time.Millisecond).Result(); acked == int64(n) {
			return primary, replicas
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %d replicas never acknowledged the primary", n)
		}
	}
}
