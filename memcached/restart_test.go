package memcached_test

import (
	"errors"
	"testing"
	"time"

	"github.com/distlock/lock"
)

// TestRestartKeepsNewOwner: memcached numbers cas ids from 1 again when it
// restarts, so after a restart another owner's lock may get the very cas id
// that a lease remembers from before. The lease's release and extend must
// not take it for theirs: a remembered cas id is only used with the server
// process that gave it.
func TestRestartKeepsNewOwner(t *testing.T) {
	srv, _ := startFake(t, nil)
	addrs := []string{srv.Addr()}
	restartKeepsNewOwner(t, dialLock(t, addrs, nil), dialLock(t, addrs, nil), srv.Restart)
}

// TestRestartKeepsNewOwnerReal is TestRestartKeepsNewOwner on a memcached
// process of LOCK_TEST_MEMCACHED_BIN, killed and started again on its port.
func TestRestartKeepsNewOwnerReal(t *testing.T) {
	addr, restart := startMemcached(t, "-m", "16")
	l, rival := dialLock(t, []string{addr}, nil), dialLock(t, []string{addr}, nil)
	restartKeepsNewOwner(t, l, rival, restart)
}

// restartKeepsNewOwner acquires a key through l on a fresh server (its
// first item: cas id 1), restarts the server, lets rival acquire the key
// (again the first item), and checks that l's lease does not touch it.
func restartKeepsNewOwner(t *testing.T, l, rival lock.Lock, restart func()) {
	t.Helper()
	ctx := t.Context()
	extended, err := l.TryAcquire(ctx, "extended", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	released, err := l.TryAcquire(ctx, "released", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	restart()
	// The rival's items get the cas ids 1 and 2, as l's had.
	for _, key := range []string{"extended", "released"} {
		if ok, err := rival.TryAcquireLock(ctx, key, time.Minute); !ok || err != nil {
			t.Fatalf("rival TryAcquireLock(%q) after a restart = %v, %v; want true", key, ok, err)
		}
	}
	if err := extended.Extend(ctx, time.Minute); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Extend of a lock lost in a restart, now another owner's = %v; want ErrNotHeld", err)
	}
	if err := released.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Errorf("Release of a lock lost in a restart, now another owner's = %v; want ErrNotHeld", err)
	}
	for _, key := range []string{"extended", "released"} {
		if ok, err := l.TryAcquireLock(ctx, key, time.Minute); ok || err != nil {
			t.Errorf("TryAcquireLock(%q) of the rival's lock = %v, %v; want false, nil: the rival's lock must stand", key, ok, err)
		}
	}
}
