//go:build linux

package main

import (
	"os/exec"
	"runtime"
	"syscall"
)

// dieWithDistlock makes the kernel kill cmd's process with SIGKILL when
// distlock dies, of SIGKILL too, so that the child does not run on without
// the lock while the next owner takes it (its parent-death signal, see
// prctl(2) PR_SET_PDEATHSIG). Call it before cmd.Start, and the function it
// returns once cmd.Wait has returned, from the same goroutine.
//
// The kernel sends the parent-death signal when the thread that started the
// child exits, not the process (golang/go#27505), and Go ends a thread whose
// locked goroutine exits: the goroutine that starts and waits for the child
// stays locked to its thread until then, so that no other goroutine can
// take the thread and end it with the child still running.
//
// The child's own children do not get the signal, and the kernel drops it
// when the child executes a set-user-ID or set-group-ID program (sudo).
func dieWithDistlock(cmd *exec.Cmd) (done func()) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
