package main

import (
	"os"
	"syscall"
)

// Exit statuses of distlock itself. Any other status is the child's: its
// exit code, or 128+n when signal n ended it, as shells report it. The
// values come from sysexits.h, so that they stay clear of the 1-2 most
// programs use for their own failures, and of 126-255.
const (
	// exitUsage (EX_USAGE): the command line, or the -url it names, is
	// wrong: a missing KEY or "--", a bad duration, a URL that does not
	// parse, an unknown or in-process scheme, a parameter the backend
	// rejects, a store that refuses the credentials. Nothing was run.
	exitUsage = 64

	// exitUnavailable (EX_UNAVAILABLE): the lock store could not be reached
	// or failed: at start, or for the whole of the last attempts of a wait.
	// Nothing was run.
	exitUnavailable = 69

	// exitBusy (EX_TEMPFAIL): the key stayed held by another owner for the
	// whole -wait (at once with -wait 0). Nothing was run; try again later.
	exitBusy = 75

	// exitLost (EX_PROTOCOL, "the remote end broke the exchange"): the
	// store stopped holding the lock while the child ran (deleted, evicted,
	// expired after failed extends, or taken by another owner). The child
	// was terminated, or had exited, whatever its status: its work may not
	// have been exclusive. 76 sits next to the busy code, in the band of
	// sysexits, and is distinct from every other status distlock returns.
	exitLost = 76

	// exitCannotRun: the command was found but could not be started (not
	// executable), as shells report it.
	exitCannotRun = 126

	// exitNotFound: the command was not found, as shells report it. It is
	// looked up before the lock is taken.
	exitNotFound = 127

	// exitSignalBase plus n: the child was ended by signal n, or distlock
	// was interrupted by signal n before the child started.
	exitSignalBase = 128
)

// childStatus returns the exit status that a shell would report for the
// child: its exit code, or 128+n when signal n ended it.
func childStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitSignalBase + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	return exitCannotRun
}

// signalStatus returns 128+n for signal n, as shells report a process ended
// by it.
func signalStatus(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return exitSignalBase + int(n)
	}
	return exitSignalBase + int(syscall.SIGTERM)
}
