package memcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/distlock/lock"
)

// TestLanded: the error of an acquire whose add was sent never looks like
// a dial that failed, which would tell the Lock that nothing was stored,
// and keeps matching what it matched.
func TestLanded(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		err  error
		sent bool
		want error // matched by the result
		dial bool  // the result shows a failed dial
	}{
		{unavailable(dial), false, lock.ErrUnavailable, true},
		{unavailable(dial), true, lock.ErrUnavailable, false},
		{fmt.Errorf("add failed (%w), and reading it back failed: %w", errors.New("EOF"), unavailable(dial)), true, lock.ErrUnavailable, false},
		{ctxError(context.Canceled, dial), true, context.Canceled, false},
		{ctxError(context.DeadlineExceeded, dial), true, context.DeadlineExceeded, false},
		{unavailable(errors.New("EOF")), true, lock.ErrUnavailable, false},
	} {
		got := landed(tc.err, tc.sent)
		if !errors.Is(got, tc.want) || dialFailed(got) != tc.dial {
			t.Errorf("landed(%v, sent %v) = %v: matches %v %v, shows a dial %v; want true, %v", tc.err, tc.sent, got, tc.want, errors.Is(got, tc.want), dialFailed(got), tc.dial)
		}
	}
}
