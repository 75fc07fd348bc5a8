package lock

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// inTransit reports whether err is a failure in transit, one that a retry
// may cure, as opposed to an answer of the store or a mistake of the
// caller. The caller's own ctx errors are not in transit: the caller
// decides what they mean.
func inTransit(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) {
		return true
	}
	if errors.Is(err, ErrInvalidKey) || errors.Is(err, ErrInvalidTTL) || errors.Is(err, ErrClosed) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// classify returns err, a backend's, so that it matches ErrUnavailable if
// it is a failure in transit (a bare network error, EOF...): the caller
// can then tell it from an answer with errors.Is, whatever the backend. Its
// text is unchanged.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !inTransit(err) {
		return err
	}
	return transitError{err}
}

// transitError is a failure in transit that a backend did not mark.
type transitError struct{ error }

func (e transitError) Unwrap() error        { return e.error }
func (e transitError) Is(target error) bool { return target == ErrUnavailable }

// unsent reports whether err shows that the request never left: a dial
// that failed. Such an attempt stored nothing, and needs no release. An
// error that joins several (a try, then a resend) is unsent only if every
// one of them is: a first try that left may have landed.
func unsent(err error) bool {
	for err != nil {
		if oe, ok := err.(*net.OpError); ok {
			return oe.Op == "dial"
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			for _, e := range errs {
				if !unsent(e) {
					return false
				}
			}
			return len(errs) > 0
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

// timedOut reports whether err is a timeout: the store did not answer in
// time, as opposed to a connection that broke.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}
