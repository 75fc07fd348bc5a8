package memcached

import (
	"context"
	"net"

	"github.com/distlock/lock"
)

// DialWith is Dial with the connections made by d, for tests that watch
// or count them.
func DialWith(ctx context.Context, addrs []string, opts *Options, d func(ctx context.Context, network, addr string) (net.Conn, error)) (lock.Lock, error) {
	return dial(ctx, addrs, opts, d)
}
