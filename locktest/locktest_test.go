package locktest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
)

// mapBackend is a minimal correct backend: a map under a mutex, on the
// store's clock, that wakes waits at a release. With a flaw set, it breaks
// one rule of the contract, and the suite must notice.
type mapBackend struct {
	s      *mapStore
	flaw   string
	scopes atomic.Int64 // the calls of Scope, which one flaw counts in the scope
}

type mapStore struct {
	now   func() time.Time
	mu    sync.Mutex
	items map[string]entry
	waits map[string]chan struct{}
}

type entry struct {
	token   string
	expires time.Time
}

// clock is the store's clock, or the client's for the flaw that computes
// expiries on the client.
func (b *mapBackend) clock() time.Time {
	if b.flaw == "client-clock" {
		return time.Now()
	}
	return b.s.now()
}

// ttl is the lifetime a lock gets, which one flaw truncates to seconds.
func (b *mapBackend) ttl(ttl time.Duration) time.Duration {
	if b.flaw == "ttl-truncated" {
		return max(ttl.Truncate(time.Second), time.Second)
	}
	return ttl
}

// held returns key's entry if its lock is live; the caller holds s.mu.
func (b *mapBackend) held(key string) (entry, bool) {
	it, ok := b.s.items[key]
	if ok && (b.clock().Before(it.expires) || b.flaw == "expired-token-ok") {
		return it, true
	}
	return entry{}, false
}

// gone deletes key and wakes its waits; the caller holds s.mu.
func (b *mapBackend) gone(key string) {
	delete(b.s.items, key)
	if ch, ok := b.s.waits[key]; ok && b.flaw != "watch-never-wakes" {
		close(ch)
		delete(b.s.waits, key)
	}
}

// answer returns the error of a call whose ctx is done, which one flaw
// does not wrap.
func (b *mapBackend) answer(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if b.flaw == "raw-errors" {
		return errors.New("connection reset by peer")
	}
	return fmt.Errorf("%w: %w", lock.ErrUnavailable, ctx.Err())
}

func (b *mapBackend) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if err := b.answer(ctx); err != nil {
		return false, err
	}
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if _, ok := b.held(key); ok && b.flaw != "acquire-overwrites" {
		return false, nil
	}
	if b.flaw == "truncated-key" && len(key) > 64 {
		key = key[:64]
	}
	b.s.items[key] = entry{token, b.clock().Add(b.ttl(ttl))}
	return true, nil
}

func (b *mapBackend) Release(ctx context.Context, key, token string) (bool, error) {
	if err := b.answer(ctx); err != nil {
		return false, err
	}
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	it, ok := b.held(key)
	if !ok || (it.token != token && b.flaw != "release-ignores-owner") {
		return false, nil
	}
	b.gone(key)
	return true, nil
}

func (b *mapBackend) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if err := b.answer(ctx); err != nil {
		return false, err
	}
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	it, ok := b.held(key)
	if !ok && strings.HasPrefix(b.flaw, "extend-recreates") {
		it, ok = entry{token: token}, true
	}
	if !ok || (it.token != token && b.flaw != "extend-ignores-owner") {
		return false, nil
	}
	b.s.items[key] = entry{it.token, b.clock().Add(b.ttl(ttl))}
	return true, nil
}

func (b *mapBackend) Watch(key string) <-chan struct{} {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	ch, ok := b.s.waits[key]
	if !ok {
		ch = make(chan struct{})
		b.s.waits[key] = ch
	}
	if _, held := b.held(key); !held && b.flaw != "watch-never-wakes" {
		b.gone(key) // free: wake at once
	}
	return ch
}

func (b *mapBackend) Close() error { return nil }

// Scope implements driver.Scoper: the backends of one store share their
// waits. One flaw names every store alike.
func (b *mapBackend) Scope() string {
	switch b.flaw {
	case "scope-ignores-store":
		return "map"
	case "scope-unstable":
		return fmt.Sprintf("map %p %d", b.s, b.scopes.Add(1))
	}
	return fmt.Sprintf("map %p", b.s)
}

func newMapStore() *mapStore {
	return &mapStore{now: time.Now, items: make(map[string]entry), waits: make(map[string]chan struct{})}
}

// runMap runs the suite on a mapBackend with flaw: on real time, with
// Delete, but for the flaws that need a harness without Delete, or one on
// the store's clock.
func runMap(t *testing.T, flaw string) {
	s := newMapStore()
	opts := &lock.Options{RetryInterval: 20 * time.Millisecond}
	h := locktest.Harness{
		New: func(*testing.T) lock.Lock {
			return lock.New(&mapBackend{s: s, flaw: flaw}, opts)
		},
		RetryInterval: 20 * time.Millisecond,
		TTL:           150 * time.Millisecond,
		Delete: func(_ *testing.T, key string) {
			s.mu.Lock()
			delete(s.items, key)
			s.mu.Unlock()
		},
	}
	switch flaw {
	case "extend-recreates-nodelete":
		h.Delete = nil
	case "scope-ignores-store":
		// Each Lock value on a store of its own, all of one scope.
		h.New = func(*testing.T) lock.Lock {
			return lock.New(&mapBackend{s: newMapStore(), flaw: flaw}, opts)
		}
	case "client-clock":
		var now atomic.Int64
		now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		s.now = func() time.Time { return time.Unix(0, now.Load()) }
		h.Advance = func(d time.Duration) { now.Add(int64(d)) }
	}
	locktest.Run(t, h)
}

// TestCorrectBackendPasses is the positive control: the suite passes a
// correct backend.
func TestCorrectBackendPasses(t *testing.T) {
	t.Parallel()
	runMap(t, "")
}

// TestBrokenBackend runs the suite, in a child process, against backends
// with one flaw each, and expects it to fail, naming the broken rule.
func TestBrokenBackend(t *testing.T) {
	if flaw := os.Getenv("LOCKTEST_FLAW"); flaw != "" {
		runMap(t, flaw)
		return
	}
	t.Parallel()
	for flaw, subtest := range map[string]string{
		"release-ignores-owner":     "ReleaseDoesNotStealNewOwner",
		"acquire-overwrites":        "Exclusive",
		"truncated-key":             "UnusualKeys",
		"extend-recreates":          "KeepAliveLoss",
		"extend-recreates-nodelete": "PrimitiveMissing",
		"extend-ignores-owner":      "PrimitiveOwner",
		"expired-token-ok":          "PrimitiveExpired",
		"watch-never-wakes":         "PrimitiveWatch",
		"raw-errors":                "PrimitiveDoneContext",
		"ttl-truncated":             "PrimitiveTTLNotShortened",
		"client-clock":              "Expiry",
		"scope-ignores-store":       "Scope",
		"scope-unstable":            "Scope",
	} {
		t.Run(flaw, func(t *testing.T) {
			t.Parallel()
			// Only the subtest that must fail runs: the children sleep
			// through expiries, and so run together.
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenBackend$/^"+subtest+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "LOCKTEST_FLAW="+flaw)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("locktest.Run passed a backend whose %s; want it to fail\n%s", flaw, out)
			}
			if want := "--- FAIL: TestBrokenBackend/" + subtest + " "; !strings.Contains(string(out), want) {
				t.Fatalf("locktest.Run on a backend whose %s: output lacks %q\n%s", flaw, want, out)
			}
		})
	}
}
