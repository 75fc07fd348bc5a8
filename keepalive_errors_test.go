package lock_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distlock/lock"
)

// TestKeepAliveKeepsOnErrorReply: an extend that fails with an error that
// is neither a failure in transit nor an answer that the lock is gone (a
// store's error reply: out of memory, refusing writes) does not say the
// store dropped the lock. The keep-alive retries it until the lease's
// deadline, and the lease keeps its lock if the store recovers in time;
// otherwise it ends at its deadline, as expired, not at the first error.
func TestKeepAliveKeepsOnErrorReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oom := errors.New("OOM command not allowed when used memory > 'maxmemory'")
		b := newMap()
		l := lock.New(b, nil)
		defer l.Close()

		s := keptAlive(t, l, "recovers", 3*time.Second)
		b.setFail(func(op string) error {
			if op == "extend" {
				return oom
			}
			return nil
		})
		time.Sleep(2500 * time.Millisecond)
		if err := s.Err(); err != nil {
			t.Fatalf("lease after 2.5s of refused extends (ttl 3s): Err() = %v; want nil, retried until the deadline", err)
		}
		b.setFail(nil)
		time.Sleep(10 * time.Second)
		if err := s.Err(); err != nil {
			t.Fatalf("lease after the store recovered: Err() = %v; want nil", err)
		}
		if err := s.Release(t.Context()); err != nil {
			t.Fatal(err)
		}

		s = keptAlive(t, l, "refused", 3*time.Second)
		b.setFail(func(op string) error {
			if op == "extend" {
				return oom
			}
			return nil
		})
		<-s.Done()
		if late := time.Since(s.Deadline()); late != 0 {
			t.Errorf("lease ended %v after its deadline; want at it", late)
		}
		if err := s.Err(); !errors.Is(err, lock.ErrNotHeld) || !errors.Is(err, oom) {
			t.Errorf("Err() = %v; want ErrNotHeld (expired) and the last extend's error", err)
		}
	})
}
