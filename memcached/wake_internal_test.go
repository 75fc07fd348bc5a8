package memcached

import (
	"context"
	"fmt"
	"github.com/distlock/lock/memcached/internal/mc"
	"testing"
	"time"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestWakes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	w := newWakes(func() time.Time { return now })
	a, b := w.watch("a"), w.watch("b")
	if again := w.watch("a"); again != a {
		t.Fatal("a second watch of a key got a channel of its own; want the first one's")
	}
	w.wake("b")
	if closed(a) || !closed(b) {
		t.Fatalf("after a release of b: a closed %v, b closed %v; want false, true", closed(a), closed(b))
	}
	if w.watch("b") == b {
		t.Fatal("a watch after a release got the closed channel; want a new one")
	}
	w.wake("a")
	if !closed(a) {
		t.Fatal("a release of a did not close its channel")
	}
	w.wake("b")
	if n := w.n.Load(); n != 0 {
		t.Fatalf("count of keys with waits = %d after every release; want 0", n)
	}
	w.wake("b") // no waits: nothing to do
}

func TestScopeShared(t *testing.T) {
	x1, x2, y := openScope("test x"), openScope("test x"), openScope("test y")
	if x1 != x2 || x1 == y {
		t.Fatal("Locks of one scope got different wakes, or Locks of two scopes the same")
	}
	ch := x1.watch("k")
	y.wake("k") // same native key, other servers
	if closed(ch) {
		t.Fatal("a release on other servers woke the wait")
	}
	x2.wake("k")
	if !closed(ch) {
		t.Fatal("a release through another Lock of the scope did not wake the wait")
	}
	x1.close()
	y.close()
	if x3 := openScope("test x"); x3 != x1 {
		t.Fatal("a scope was dropped while a Lock still used it")
	}
	x2.close()
	x1.close()
	scopes.Lock()
	n := len(scopes.m)
	_, kept := scopes.m["test x"]
	scopes.Unlock()
	if kept {
		t.Fatalf("a scope was kept after its last Lock closed (%d scopes open)", n)
	}
}

// TestWakesPruned checks that the keys no wait asks for any more are
// dropped, so that waits that ended without a release in this process
// (the lock expired, or another process released it) leave nothing behind.
func TestWakesPruned(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	w := newWakes(func() time.Time { return now })
	var old []<-chan struct{}
	for i := range 100 {
		old = append(old, w.watch(fmt.Sprintf("k%d", i)))
	}
	now = now.Add(staleWait / 2)
	kept := w.watch("k0") // still asked for
	now = now.Add(staleWait/2 + time.Second)
	for i := range 200 {
		w.watch(fmt.Sprintf("new%d", i))
	}
	if n := w.len(); n > 201 {
		t.Fatalf("%d keys kept; want at most the 200 new ones and k0", n)
	}
	for i, ch := range old[1:] {
		if !closed(ch) {
			t.Fatalf("stale key k%d kept open; want it closed, its waits woken to poll", i+1)
		}
	}
	if closed(kept) {
		t.Fatal("key k0, asked for within staleWait, was dropped")
	}
}

func TestScopes(t *testing.T) {
	ctx := context.Background()
	a, err := mc.NewServers(ctx, []string{"LocalHost:11211", "127.0.0.1:11212"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := mc.NewServers(ctx, []string{"127.0.0.1:11212", "localhost:11211"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := mc.NewServers(ctx, []string{"localhost:11211"})
	if err != nil {
		t.Fatal(err)
	}
	if selectorScope(a) != selectorScope(b) {
		t.Errorf("scopes of one server list, written two ways: %q, %q; want equal", selectorScope(a), selectorScope(b))
	}
	if selectorScope(a) == selectorScope(c) {
		t.Errorf("scopes of different server lists are equal: %q", selectorScope(a))
	}
	if clientScope(&a) == clientScope(&b) {
		t.Error("scopes of two clients are equal")
	}
}
