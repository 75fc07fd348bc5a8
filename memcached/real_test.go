package memcached_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memcached"
)

// TestTTLNeverEarly acquires locks of several ttls at staggered points of
// memcached's one-second clock, and checks that another owner gets each lock
// no sooner than its ttl and no later than ttl + 3.1s.
func TestTTLNeverEarly(t *testing.T) {
	forRealProtocols(t, func(t *testing.T, newLock func(opts *memcached.Options) lock.Lock) {
		t.Parallel()
		ttlNeverEarly(t, newLock(nil), newLock(nil))
	})
}

// forRealProtocols runs f as a subtest for each protocol, with a function
// that makes Locks of it on the real servers (nil opts: the test's retry
// interval).
func forRealProtocols(t *testing.T, f func(t *testing.T, newLock func(opts *memcached.Options) lock.Lock)) {
	addrs := realServers(t)
	c := realClient(t)
	t.Run("Meta", func(t *testing.T) {
		f(t, func(opts *memcached.Options) lock.Lock { return dialLock(t, addrs, opts) })
	})
	t.Run("Classic", func(t *testing.T) {
		f(t, func(opts *memcached.Options) lock.Lock {
			if opts == nil {
				opts = &memcached.Options{Options: lock.Options{RetryInterval: testRetry}}
			}
			l, err := memcached.New(c, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l
		})
	})
}

func ttlNeverEarly(t *testing.T, owner, rival lock.Lock) {
	ttls := []time.Duration{time.Millisecond, 999 * time.Millisecond, time.Second, 2500 * time.Millisecond}
	const trials = 8 // per ttl, spread over one second
	ctx := t.Context()
	run := fmt.Sprintf("ttl-%d:", time.Now().UnixNano())

	var wg sync.WaitGroup
	errs := make(chan error, len(ttls)*trials)
	for _, ttl := range ttls {
		for i := range trials {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * time.Second / trials)
				key := fmt.Sprintf("%s%v:%d", run, ttl, i)
				held := time.Now() // the ttl counts from the start of the call
				if ok, err := owner.TryAcquireLock(ctx, key, ttl); !ok || err != nil {
					errs <- fmt.Errorf("TryAcquireLock(%q) = %v, %v; want true", key, ok, err)
					return
				}
				for {
					ok, err := rival.TryAcquireLock(ctx, key, time.Minute)
					since := time.Since(held)
					switch {
					case err != nil:
						errs <- err
						return
					case ok && since < ttl:
						errs <- fmt.Errorf("lock %q of ttl %v taken by another owner %v after it was acquired; want not before its ttl", key, ttl, since)
						return
					case ok:
						rival.ReleaseLock(ctx, key)
						return
					case since > ttl+3100*time.Millisecond+250*time.Millisecond: // + slack for a loaded machine
						errs <- fmt.Errorf("lock %q of ttl %v still held %v after it was acquired; want free by ttl + 3.1s", key, ttl, since)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestTTLLimits checks the ttls that the original got wrong: above 30 days
// (an absolute time to memcached) and negative ones are refused, and the
// longest accepted ttl really holds the lock.
func TestTTLLimits(t *testing.T) {
	forRealProtocols(t, func(t *testing.T, newLock func(opts *memcached.Options) lock.Lock) {
		ttlLimits(t, newLock(nil), newLock(nil))
	})
}

func ttlLimits(t *testing.T, l, rival lock.Lock) {
	ctx := t.Context()
	key := fmt.Sprintf("limits-%d", time.Now().UnixNano())
	for _, ttl := range []time.Duration{-time.Second, 0, 30 * 24 * time.Hour, 30*24*time.Hour - 2*time.Second, 31 * 24 * time.Hour} {
		if ok, err := l.TryAcquireLock(ctx, key, ttl); ok || !errors.Is(err, lock.ErrInvalidTTL) {
			t.Errorf("TryAcquireLock(ttl %v) = %v, %v; want false, ErrInvalidTTL", ttl, ok, err)
		}
	}
	longest := 30*24*time.Hour - 3*time.Second
	if ok, err := l.TryAcquireLock(ctx, key, longest); !ok || err != nil {
		t.Fatalf("TryAcquireLock(ttl %v) = %v, %v; want true", longest, ok, err)
	}
	if ok, err := rival.TryAcquireLock(ctx, key, time.Minute); ok || err != nil {
		t.Fatalf("rival TryAcquireLock of a lock with ttl %v = %v, %v; want false, nil (held)", longest, ok, err)
	}
	if err := l.ReleaseLock(ctx, key); err != nil {
		t.Fatalf("ReleaseLock = %v; want nil", err)
	}
}

// serverKeys lists the keys stored on the server at addr whose names start
// with prefix, through "lru_crawler metadump all" (memcached >= 1.4.31).
func serverKeys(t *testing.T, addr, prefix string) []string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprint(conn, "lru_crawler metadump all\r\n"); err != nil {
		t.Fatal(err)
	}
	var keys []string
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		if line == "END" {
			return keys
		}
		if strings.HasPrefix(line, "ERROR") || strings.HasPrefix(line, "BUSY") {
			t.Fatalf("lru_crawler metadump: %s", line)
		}
		field, _, _ := strings.Cut(line, " ")
		if k, ok := strings.CutPrefix(field, "key="); ok {
			if k, err = url.QueryUnescape(k); err == nil && strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
	}
	t.Fatalf("lru_crawler metadump: no END: %v", sc.Err())
	return nil
}

// TestNoInjection acquires keys carrying protocol text and checks that the
// server stores exactly one item per lock, none of them injected.
func TestNoInjection(t *testing.T) {
	c := realClient(t)
	forRealProtocols(t, func(t *testing.T, newLock func(opts *memcached.Options) lock.Lock) {
		prefix := fmt.Sprintf("inj%d:", time.Now().UnixNano())
		noInjection(t, c, newLock(&memcached.Options{Prefix: prefix}), prefix)
	})
}

func noInjection(t *testing.T, c *memcache.Client, l lock.Lock, prefix string) {
	ctx := t.Context()
	injected := prefix + "injected"
	keys := []string{
		"a\r\nset " + injected + " 0 0 1\r\nx",
		"b set " + injected + " 0 0 1",
		"c\nset " + injected + " 0 0 1\n",
		"d\r\ndelete " + prefix + "x\r\n",
		"e\x00f",
	}
	for _, k := range keys {
		if ok, err := l.TryAcquireLock(ctx, k, time.Minute); !ok || err != nil {
			t.Fatalf("TryAcquireLock(%q) = %v, %v; want true", k, ok, err)
		}
	}
	if _, err := c.Get(injected); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Errorf("Get(%q) = %v; want a cache miss: a key injected a command", injected, err)
	}
	var stored []string
	for _, addr := range realServers(t) {
		stored = append(stored, serverKeys(t, addr, prefix)...)
	}
	if len(stored) != len(keys) {
		t.Errorf("server holds %d keys under %q: %q; want %d, one per lock", len(stored), prefix, stored, len(keys))
	}
	for _, k := range keys {
		if err := l.ReleaseLock(ctx, k); err != nil {
			t.Errorf("ReleaseLock(%q) = %v; want nil", k, err)
		}
	}
}

// TestInteropReal is TestInterop on the real servers.
func TestInteropReal(t *testing.T) {
	c := realClient(t)
	interop(t, c, dialLock(t, realServers(t), nil), newLock(t, c))
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	l, err := lock.Open(ctx, "memcached://127.0.0.1:1?timeout=200ms")
	if err == nil {
		l.Close()
		t.Fatal("Open of a closed port succeeded; want an error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open of a closed port took %v; want a prompt error", d)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Open error %q; want it to name the URL", err)
	}
}

// TestOpenBadServer checks that a server address that does not resolve
// fails Open, instead of leaving a client with no servers, whose ping
// succeeds and whose every call fails.
func TestOpenBadServer(t *testing.T) {
	for _, raw := range []string{
		"memcached://no-such-host.invalid",
		"memcached://127.0.0.1:11211,no-such-host.invalid",
		"memcached://127.0.0.1:99999",
	} {
		l, err := lock.Open(t.Context(), raw)
		if err == nil {
			l.Close()
			t.Errorf("Open(%q) succeeded; want an error", raw)
		}
	}
}
