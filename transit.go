package lock

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// ErrUnavailable marks an error in transit: the store could not be reached,
// or did not answer in time, so the outcome of the call is unknown and
// retrying may succeed. Errors of the network (net.Error, io.EOF, a reset
// connection) count as such without it; backends wrap their other transient
// errors (a server still loading, a pool exhausted) with ErrUnavailable.
var ErrUnavailable = errors.New("lock: store unavailable")

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

// unsent reports whether err shows that the request never left: a dial
// that failed. Such an attempt stored nothing, and needs no release.
func unsent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}
