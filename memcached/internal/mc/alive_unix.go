//go:build unix

package mc

import (
	"errors"
	"net"
	"syscall"
)

// closedByPeer reports whether nc, a connection with no command in flight,
// has something to read: its end (the server closed it, as a restart
// does) or bytes that nobody asked for. memcached sends nothing unasked,
// so either way the connection is of no more use. It peeks without
// blocking, one system call, and reports false when it cannot tell.
func closedByPeer(nc net.Conn) bool {
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn() // under TLS, the socket: any byte there is unasked too
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n > 0 || (n == 0 && err == nil) || (err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR))
		return true
	})
	return err == nil && closed
}
