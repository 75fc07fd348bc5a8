package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/distlock/lock"
)

// checkScheme checks the scheme of the -url before distlock does anything
// else, so that the common mistakes get a message that says what to write:
// lock.CheckScheme's (no scheme, or one no backend registered: it names the
// registered ones, and never a password), or memory://'s, which keeps locks
// inside one process. lock.Open checks the rest.
func checkScheme(raw string) error {
	if scheme, _, _ := strings.Cut(raw, ":"); strings.EqualFold(scheme, "memory") {
		return usagef("-url memory:// keeps locks inside one process, where distlock processes cannot share them: want one of %s",
			strings.Join(sharedSchemes(), ", "))
	}
	if err := lock.CheckScheme(raw); err != nil {
		// The root's hint about a missing import is for programs, not for
		// distlock's users: it registers every backend it can run.
		return usagef("bad -url: %s", strings.Replace(err.Error(), "; forgotten import?", "", 1))
	}
	return nil
}

// sharedSchemes returns the registered schemes but memory, as SCHEME://.
func sharedSchemes() []string {
	var s []string
	for _, scheme := range lock.Schemes() {
		if scheme != "memory" {
			s = append(s, scheme+"://")
		}
	}
	return s
}

// unreachable reports whether err, from lock.Open, shows a store that could
// not be reached or did not answer in time, rather than a URL that is wrong
// or that the store refused (a bad parameter, password or database, a
// server that is not memcached).
//
// The caller checks lock.ErrInvalidURL first; this looks for the errors of
// the network, which only trying to reach a server produces.
func unreachable(err error) bool {
	var (
		ne net.Error
		se *os.SyscallError
	)
	return errors.Is(err, lock.ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) || // dial, DNS and timeouts
		errors.As(err, &se) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// storeFailure returns the error of the store that a failed wait carries,
// or nil when it carries none: the key was merely held until the wait
// ended. A wait that ends while its attempts fail in transit returns an
// error matching lock.ErrNotAcquired that also wraps the last attempt's
// error; the key may well be free, so that is the store's failure, not a
// busy key. It looks for an error, in the tree of err, other than
// ErrNotAcquired, the ctx errors and this command's own causes.
func storeFailure(err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if f := storeFailure(inner); f != nil {
				if _, joined := inner.(interface{ Unwrap() []error }); joined {
					return f
				}
				return inner
			}
		}
		return nil
	case interface{ Unwrap() error }:
		if storeFailure(e.Unwrap()) != nil {
			return err
		}
		return nil
	}
	switch err {
	case lock.ErrNotAcquired, context.Canceled, context.DeadlineExceeded, errWaitOver, errInterrupted:
		return nil
	}
	return err
}
