// Package testnet has network helpers for tests.
package testnet

import (
	"net"
	"testing"
)

// ClosedAddr returns a loopback address ("127.0.0.1:port") where nothing
// listens: a port the system just handed out and that was closed at once,
// so that a dial there is refused, or a server started there can take it.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
