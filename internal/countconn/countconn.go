// Package countconn counts the writes on network connections, for tests
// that check how many round trips an operation takes: the memcached and
// redis clients flush a command sent alone in one write and then wait for
// its answer, so each write is one round trip.
package countconn

import (
	"net"
	"sync/atomic"
)

// Counter counts the writes on the connections it wraps. It is safe for
// concurrent use; the zero value is ready.
type Counter struct{ n atomic.Int32 }

// Wrap returns conn, counting its writes on c.
func (c *Counter) Wrap(conn net.Conn) net.Conn { return countingConn{conn, c} }

// Swap returns the writes counted so far and resets the count to n.
func (c *Counter) Swap(n int) int { return int(c.n.Swap(int32(n))) }

type countingConn struct {
	net.Conn
	c *Counter
}

func (cc countingConn) Write(p []byte) (int, error) {
	cc.c.n.Add(1)
	return cc.Conn.Write(p)
}
