// Package mc is the memcached client of the meta backend: memcached's meta
// protocol on a bounded number of connections per server, each carrying
// many commands at once, and the choice of a key's server. Every call takes
// a context and returns when it ends; the lock algorithm stays in package
// memcached.
package mc

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"slices"
	"strings"

	"github.com/bradfitz/gomemcache/memcache"
)

// Servers is the servers of a client, sorted, and a memcache.ServerSelector
// that picks a key's server as gomemcache's ServerList does (the key's
// CRC-32 modulo the number of servers), but differs from it in two ways
// that matter to a lock:
//
//   - the servers are sorted, so that every process sends a key to the same
//     server whatever order its URL lists them in (two orders would let two
//     owners hold one lock, each on its own server);
//   - each server is dialled by the name it was given, not by the address
//     it resolved to once, so that TLS checks the certificate against the
//     host name, and a server that moves to another address is followed.
type Servers []net.Addr // of *serverAddr

// serverAddr is a server as given: host:port, or the path of a Unix socket.
// key is what it is sorted and compared by: host names are not case
// sensitive, and a trailing dot does not change one.
type serverAddr struct{ network, addr, key string }

func (a serverAddr) Network() string { return a.network }
func (a serverAddr) String() string  { return a.addr }

// NewServers checks addrs ("host:port", or a socket path with a '/') and
// that each host resolves, within ctx, and returns them sorted.
func NewServers(ctx context.Context, addrs []string) (Servers, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("no servers")
	}
	s := make(Servers, 0, len(addrs))
	for _, a := range addrs {
		if strings.Contains(a, "/") {
			s = append(s, &serverAddr{"unix", a, a})
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", a, err)
		}
		if _, err := net.DefaultResolver.LookupPort(ctx, "tcp", port); err != nil {
			return nil, fmt.Errorf("server %q: %w", a, err)
		}
		if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
			return nil, fmt.Errorf("server %q: %w", a, err)
		}
		key := net.JoinHostPort(strings.ToLower(strings.TrimSuffix(host, ".")), port)
		s = append(s, &serverAddr{"tcp", a, key})
	}
	key := func(a net.Addr) string { return a.(*serverAddr).key }
	slices.SortFunc(s, func(a, b net.Addr) int { return strings.Compare(key(a), key(b)) })
	for i := 1; i < len(s); i++ {
		if key(s[i]) == key(s[i-1]) {
			return nil, fmt.Errorf("server %q listed twice", s[i])
		}
	}
	return s, nil
}

// PickServer returns the server of key: the only one, or the one at the
// key's CRC-32 modulo their number.
func (s Servers) PickServer(key string) (net.Addr, error) {
	if len(s) == 0 {
		return nil, memcache.ErrNoServers
	}
	return s[s.Index(key)], nil
}

// Index returns the index of the server of key, as PickServer picks it.
func (s Servers) Index(key string) int {
	if len(s) <= 1 {
		return 0
	}
	return int(checksum(key) % uint32(len(s)))
}

// checksum is crc32.ChecksumIEEE of the first 256 bytes of key (all that
// gomemcache hashes; keys sent are at most 250), computed without turning
// key into a []byte that would escape to the heap.
func checksum(key string) uint32 {
	tab := crc32.IEEETable
	crc := ^uint32(0)
	for i := 0; i < len(key) && i < 256; i++ {
		crc = tab[byte(crc)^key[i]] ^ crc>>8
	}
	return ^crc
}

// Each calls f with each server, in order, until f fails.
func (s Servers) Each(f func(net.Addr) error) error {
	for _, a := range s {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// Scope names the servers: the same servers, however listed, give the same
// scope.
func (s Servers) Scope() string {
	keys := make([]string, len(s))
	for i, a := range s {
		keys[i] = a.(*serverAddr).key
	}
	return strings.Join(keys, ",")
}
