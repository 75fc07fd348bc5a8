package lock

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
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
