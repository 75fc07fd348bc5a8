package memcached_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
)

// TestEvictionReal starts memcached with a tiny memory limit, takes locks,
// fills the server with other data until they are evicted, and checks that
// an evicted lock is reported lost, ErrNotHeld on Extend and Release, on
// both protocols: nothing silently re-creates it.
func TestEvictionReal(t *testing.T) {
	addr, _ := startMemcached(t, "-m", "2") // 2 MB: the least with the default item size limit

	c := memcache.New(addr)
	t.Cleanup(func() { c.Close() })
	classic := newLock(t, c)
	defer classic.Close()
	meta := dialLock(t, []string{addr}, nil)
	ctx := t.Context()
	type held struct {
		name string
		s    *lock.Lease
	}
	var leases []held
	for _, l := range []struct {
		name string
		l    lock.Lock
	}{{"meta", meta}, {"classic", classic}} {
		for _, op := range []string{"extend", "release"} {
			s, err := l.l.TryAcquire(ctx, l.name+":"+op, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			leases = append(leases, held{l.name + " " + op, s})
		}
	}
	// Fill with items of the locks' size (key and value), so they share
	// the locks' slab class: 100,000 of them hold many times the memory.
	// Nothing reads the locks meanwhile: a read would keep them in use.
	value := []byte(leases[0].s.Token())
	for i := range 100_000 {
		key := fmt.Sprintf("%016d", i) // as long as lock:meta:extend
		if err := c.Set(&memcache.Item{Key: key, Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range leases {
		if _, err := c.Get("lock:" + h.s.Key()); !errors.Is(err, memcache.ErrCacheMiss) {
			t.Fatalf("lock %s still stored after the fill (%v): not evicted", h.name, err)
		}
	}
	for _, h := range leases {
		var err error
		if strings.HasSuffix(h.name, "extend") {
			err = h.s.Extend(ctx, time.Hour)
		} else {
			err = h.s.Release(ctx)
		}
		if !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("%s of an evicted lock = %v; want ErrNotHeld", h.name, err)
		}
		if _, err := c.Get("lock:" + h.s.Key()); !errors.Is(err, memcache.ErrCacheMiss) {
			t.Errorf("%s re-created the evicted lock (%v)", h.name, err)
		}
	}
}
