//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestChildDiesWithDistlock: a distlock killed with SIGKILL, which cannot
// release the lock, takes its child with it (the child's parent-death
// signal), so that the child does not run on while the next owner takes
// the lock.
func TestChildDiesWithDistlock(t *testing.T) {
	t.Parallel()
	s := fakeMemcached(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := startDistlock(t, "", nil, "run", "-url", s.url, newKey("killed"), "--", self(t), "pid", pidFile)
	pid, err := strconv.Atoi(waitFile(t, pidFile, p))
	if err != nil {
		t.Fatalf("the child wrote a bad pid: %v", err)
	}
	if !running(t, pid) {
		t.Fatalf("the child %d does not run before distlock is killed", pid)
	}
	killed := time.Now()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	const limit = 10 * time.Second // ample on a loaded machine: the kernel signals at once
	for deadline := killed.Add(limit); running(t, pid); {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL) // leave nothing behind
			t.Fatalf("the child %d still runs %v after distlock was killed with SIGKILL", pid, limit)
		}
		<-time.After(10 * time.Millisecond)
	}
	t.Logf("distlock killed; its child was gone %v later", time.Since(killed))
	wantCode(t, p.wait(t), exitSignalBase+int(syscall.SIGKILL))
}

// running reports whether process pid runs: it exists, and is not a zombie
// that its new parent has yet to reap.
func running(t *testing.T, pid int) bool {
	t.Helper()
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		t.Fatalf("/proc/%d/stat: %q", pid, stat)
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}
