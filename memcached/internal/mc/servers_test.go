package mc

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
)

// TestServersAgreeWithServerList: Dial's selector sends every key to the
// server that gomemcache's ServerList, given the same servers sorted,
// picks, so clients of New and of Dial agree.
func TestServersAgreeWithServerList(t *testing.T) {
	addrs := []string{"127.0.0.3:11211", "127.0.0.1:11211", "127.0.0.2:11212"}
	ours, err := NewServers(t.Context(), addrs)
	if err != nil {
		t.Fatal(err)
	}
	var theirs memcache.ServerList
	if err := theirs.SetServers("127.0.0.1:11211", "127.0.0.2:11212", "127.0.0.3:11211"); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		key := fmt.Sprintf("lock:%d:%x", i, rand.Uint64())
		if i%100 == 0 {
			key += string(make([]byte, 300)) // longer than gomemcache hashes
		}
		a, _ := ours.PickServer(key)
		b, _ := theirs.PickServer(key)
		if a.String() != b.String() {
			t.Fatalf("PickServer(%q) = %s; gomemcache's ServerList picks %s", key, a, b)
		}
		if len(key) <= 256 && checksum(key) != crc32.ChecksumIEEE([]byte(key)) {
			t.Fatalf("checksum(%q) differs from crc32.ChecksumIEEE", key)
		}
	}
}

func TestServersInvalid(t *testing.T) {
	for _, addrs := range [][]string{nil, {"h"}, {"127.0.0.1:11211", "127.0.0.1:11211"}, {"localhost:11211", "LocalHost:11211"}, {"127.0.0.1:99999"}, {"no-such-host.invalid:11211"}} {
		if s, err := NewServers(t.Context(), addrs); err == nil {
			t.Errorf("NewServers(%q) = %v; want an error", addrs, s)
		}
	}
}

// TestServersOrderIgnoresCase: host names differing only in case sort
// alike, so two processes agree on each key's server.
func TestServersOrderIgnoresCase(t *testing.T) {
	a, err := NewServers(t.Context(), []string{"localhost:1", "localhost:2"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewServers(t.Context(), []string{"LOCALHOST:2", "LocalHost:1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		key := fmt.Sprint("k", i)
		x, _ := a.PickServer(key)
		y, _ := b.PickServer(key)
		if x.(*serverAddr).key != y.(*serverAddr).key {
			t.Fatalf("PickServer(%q) = %s and %s; want the same server", key, x, y)
		}
	}
}
