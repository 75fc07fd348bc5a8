package lock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestUnsent checks which errors show that an attempt never left: only a
// dial that failed, and a joined error only when every part did.
func TestUnsent(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	read := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{dial, true},
		{fmt.Errorf("store: %w", dial), true},
		{read, false},
		{io.EOF, false},
		{errors.New("refused"), false},
		{fmt.Errorf("first try (%w), and the resend: %w", io.EOF, dial), false},
		{fmt.Errorf("first try (%w), and the resend: %w", dial, dial), true},
		{errors.Join(read, dial), false},
	} {
		if got := unsent(tc.err); got != tc.want {
			t.Errorf("unsent(%v) = %v; want %v", tc.err, got, tc.want)
		}
	}
}

// TestClassify checks that a backend's failure in transit reaches the
// caller matching ErrUnavailable, with its text and its chain unchanged,
// and that answers and marked errors pass as they are.
func TestClassify(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	marked := fmt.Errorf("%w: %w", ErrUnavailable, io.EOF)
	answer := errors.New("store: wrong type")
	for _, tc := range []struct {
		err         error
		unavailable bool
	}{
		{dial, true},
		{fmt.Errorf("redis: %w", io.EOF), true},
		{marked, true},
		{answer, false},
		{ErrNotHeld, false},
	} {
		got := classify(tc.err)
		if errors.Is(got, ErrUnavailable) != tc.unavailable || got.Error() != tc.err.Error() || !errors.Is(got, tc.err) {
			t.Errorf("classify(%v) = %v (ErrUnavailable: %v); want the same text and chain, ErrUnavailable: %v", tc.err, got, errors.Is(got, ErrUnavailable), tc.unavailable)
		}
	}
	if classify(nil) != nil || classify(marked) != marked || classify(answer) != answer {
		t.Error("classify changed nil, an error marked ErrUnavailable, or an answer; want them as they are")
	}
	if !unsent(classify(dial)) {
		t.Error("unsent(classify(a dial refused)) = false; want true")
	}
}

// refusedBackend fails every call with a bare network error, as a backend
// that does not wrap its client's errors would.
type refusedBackend struct{}

var errRefused = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

func (refusedBackend) Acquire(context.Context, string, string, time.Duration) (bool, error) {
	return false, errRefused
}
func (refusedBackend) Release(context.Context, string, string) (bool, error) {
	return false, errRefused
}
func (refusedBackend) Extend(context.Context, string, string, time.Duration) (bool, error) {
	return false, errRefused
}
func (refusedBackend) Close() error { return nil }

// TestBareTransitErrorIsUnavailable checks the Lock's calls: a bare
// network error of the backend matches ErrUnavailable.
func TestBareTransitErrorIsUnavailable(t *testing.T) {
	l := New(refusedBackend{}, &Options{CloseTimeout: 10 * time.Millisecond})
	defer l.Close()
	_, err := l.TryAcquire(context.Background(), "k", time.Minute)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("TryAcquire on a store that resets = %v; want ErrUnavailable and the reset", err)
	}
}
