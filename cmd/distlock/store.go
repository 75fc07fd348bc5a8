package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/distlock/lock"
)

// checkScheme checks the scheme of the -url, so that the common mistakes
// get a message that says what to write. It never prints the URL, which may
// hold a password; lock.Open checks the rest, and its errors redact it.
func checkScheme(raw string) error {
	const want = "want memcached://HOST:11211 or redis://HOST:6379/0"
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return usagef("-url has no scheme: %s", want)
	}
	if !validScheme(scheme) {
		return usagef("-url does not start with a scheme: %s", want)
	}
	scheme = strings.ToLower(scheme)
	if scheme == "memory" {
		return usagef("-url memory:// keeps locks inside one process, where distlock processes cannot share them: %s", want)
	}
	schemes := lock.Schemes()
	if !slices.Contains(schemes, scheme) {
		return usagef("-url has the unknown scheme %q: want one of %s://", scheme, strings.Join(schemes, "://, "))
	}
	return nil
}

// validScheme reports whether s is a URL scheme (RFC 3986), and so safe to
// print: a password cannot hide in it.
func validScheme(s string) bool {
	if s == "" || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
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
