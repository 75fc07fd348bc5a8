//go:build !linux

package main

import "os/exec"

// dieWithDistlock does nothing here: distlock asks the kernel to kill its
// child when it dies only on Linux. Elsewhere a distlock killed with SIGKILL
// leaves its child running, without the lock, in distlock's process group.
func dieWithDistlock(*exec.Cmd) (done func()) { return func() {} }
