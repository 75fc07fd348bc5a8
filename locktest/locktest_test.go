package locktest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
)

// mapBackend is a minimal correct backend: a map under a mutex. With a flaw
// set, it breaks one rule of the contract, and the suite must notice.
type mapBackend struct {
	s    *mapStore
	flaw string
}

type mapStore struct {
	mu    sync.Mutex
	items map[string]entry
}

type entry struct {
	token   string
	expires time.Time
}

func (b *mapBackend) Acquire(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	now := time.Now()
	if it, ok := b.s.items[key]; ok && now.Before(it.expires) && b.flaw != "acquire-overwrites" {
		return false, nil
	}
	if b.flaw == "truncated-key" && len(key) > 64 {
		key = key[:64]
	}
	b.s.items[key] = entry{token, now.Add(ttl)}
	return true, nil
}

func (b *mapBackend) Release(_ context.Context, key, token string) (bool, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	it, ok := b.s.items[key]
	if !ok || !time.Now().Before(it.expires) || (it.token != token && b.flaw != "release-ignores-owner") {
		return false, nil
	}
	delete(b.s.items, key)
	return true, nil
}

func (b *mapBackend) Extend(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	it, ok := b.s.items[key]
	if b.flaw == "extend-recreates" && !ok {
		it, ok = entry{token, time.Now()}, true
	}
	if !ok || !time.Now().Before(it.expires) && b.flaw != "extend-recreates" || it.token != token {
		return false, nil
	}
	b.s.items[key] = entry{token, time.Now().Add(ttl)}
	return true, nil
}

func (b *mapBackend) Close() error { return nil }

func runMap(t *testing.T, flaw string) {
	s := &mapStore{items: make(map[string]entry)}
	locktest.Run(t, locktest.Harness{
		New: func(*testing.T) lock.Lock {
			return lock.New(&mapBackend{s: s, flaw: flaw}, &lock.Options{RetryInterval: 20 * time.Millisecond})
		},
		RetryInterval: 20 * time.Millisecond,
		TTL:           150 * time.Millisecond,
		Delete: func(_ *testing.T, key string) {
			s.mu.Lock()
			delete(s.items, key)
			s.mu.Unlock()
		},
	})
}

// TestCorrectBackendPasses is the positive control: the suite passes a
// correct backend.
func TestCorrectBackendPasses(t *testing.T) { runMap(t, "") }

// TestBrokenBackend runs the suite, in a child process, against backends
// with one flaw each, and expects it to fail, naming the broken rule.
func TestBrokenBackend(t *testing.T) {
	if flaw := os.Getenv("LOCKTEST_FLAW"); flaw != "" {
		runMap(t, flaw)
		return
	}
	for flaw, subtest := range map[string]string{
		"release-ignores-owner": "ReleaseDoesNotStealNewOwner",
		"acquire-overwrites":    "Exclusive",
		"truncated-key":         "UnusualKeys",
		"extend-recreates":      "KeepAliveLoss",
	} {
		t.Run(flaw, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenBackend$", "-test.count=1")
			cmd.Env = append(os.Environ(), "LOCKTEST_FLAW="+flaw)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("locktest.Run passed a backend whose %s; want it to fail\n%s", flaw, out)
			}
			if want := "--- FAIL: TestBrokenBackend/" + subtest; !strings.Contains(string(out), want) {
				t.Fatalf("locktest.Run on a backend whose %s: output lacks %q\n%s", flaw, want, out)
			}
		})
	}
}
