package memcached_test

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/distlock/lock/internal/testnet"
)

// startMemcached starts a memcached of LOCK_TEST_MEMCACHED_BIN on a free
// loopback port, with flags added to its command line, killed when the test
// ends. It returns the server's address and a function that kills it and
// starts it again on the same port, empty. It skips the test when the
// variable is not set.
func startMemcached(t *testing.T, flags ...string) (addr string, restart func()) {
	t.Helper()
	bin := os.Getenv("LOCK_TEST_MEMCACHED_BIN")
	if bin == "" {
		t.Skip("LOCK_TEST_MEMCACHED_BIN not set: the test needs a memcached of its own")
	}
	addr = testnet.ClosedAddr(t) // a free port, for the server
	_, port, _ := net.SplitHostPort(addr)
	args := append([]string{"-l", "127.0.0.1", "-p", port, "-U", "0"}, flags...)
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

// waitListening waits until a server listens at addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server listening on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // waiting for another process to listen: no channel to wait on
	}
}
