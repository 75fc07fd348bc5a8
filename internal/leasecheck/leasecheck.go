// Package leasecheck holds a check that the keep-alive tests of several
// packages share.
package leasecheck

import (
	"errors"
	"testing"

	"github.com/distlock/lock"
)

// OneLost checks that, of leases kept alive, the one at index lost, whose
// key a test deleted behind its back, has ended with lock.ErrNotHeld, and
// that every other still holds its lock; kept says how they were kept, for
// the messages.
func OneLost(t testing.TB, leases []*lock.Lease, lost int, kept string) {
	t.Helper()
	for i, s := range leases {
		err := s.Err()
		switch {
		case i == lost && !errors.Is(err, lock.ErrNotHeld):
			t.Errorf("lease of a key deleted behind its back: Err() = %v; want ErrNotHeld", err)
		case i != lost && err != nil:
			t.Errorf("lease %d kept alive %s: Err() = %v; want nil", i, kept, err)
		}
	}
}
