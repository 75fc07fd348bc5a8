package memcached

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/distlock/lock/memcached/internal/mc"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestCASHints(t *testing.T) {
	var h casHints
	a, b := mc.ServerID{Pid: 1, Started: 100}, mc.ServerID{Pid: 2, Started: 100}
	h.put("k", "t1", 7, a, 60, 0)
	for _, tc := range []struct {
		token string
		id    mc.ServerID
		want  uint64
	}{
		{"t1", a, 7},
		{"t2", a, 0},             // another token of the key
		{"t1", b, 0},             // another server process
		{"t1", mc.ServerID{}, 0}, // a server of unknown identity
	} {
		if got := h.get("k", tc.token, tc.id); got != tc.want {
			t.Errorf("get(k, %s, %v) = %d; want %d", tc.token, tc.id, got, tc.want)
		}
	}
	h.drop("k", "t2") // not the token remembered: kept
	if got := h.get("k", "t1", a); got != 7 {
		t.Errorf("get after dropping another token = %d; want 7", got)
	}
	h.put("k", "t1", 0, a, 60, 0) // no cas id: forgotten
	if got := h.get("k", "t1", a); got != 0 || h.len() != 0 {
		t.Errorf("get after a put of cas 0 = %d, %d hints; want 0, none", got, h.len())
	}
	h.put("k", "t1", 8, mc.ServerID{}, 60, 0) // unknown server: not kept
	if h.len() != 0 {
		t.Errorf("hints after a put from an unknown server: %d; want none", h.len())
	}
}

// TestCASHintsBounded: hints of locks never released are pruned once
// expired, and never grow past maxHints.
func TestCASHintsBounded(t *testing.T) {
	var h casHints
	id := mc.ServerID{Pid: 1}
	for i := range 5000 {
		h.put(fmt.Sprint("expired-", i), "t", 1, id, -1, 0)
	}
	if n := h.len(); n > 1024 {
		t.Errorf("hints of 5000 expired locks: %d; want at most 1024", n)
	}
	for i := range maxHints + 5000 {
		h.put(fmt.Sprint("live-", i), "t", 1, id, 60, 0)
	}
	if n := h.len(); n > maxHints {
		t.Errorf("hints of %d live locks: %d; want at most %d", maxHints+5000, n, maxHints)
	}
}

// TestTLSHint checks that a mismatch gets its hint, and that a timeout,
// which a silent server gives with TLS or without, gets none.
func TestTLSHint(t *testing.T) {
	for _, tc := range []struct {
		tls  bool
		err  error
		want string
	}{
		{true, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "leave out tls=true"},
		{false, io.EOF, "add tls=true"},
		{false, syscall.ECONNRESET, "add tls=true"},
		{true, context.DeadlineExceeded, ""},
		{false, context.DeadlineExceeded, ""},
		{false, os.ErrDeadlineExceeded, ""},
	} {
		got := tlsHint(tc.tls, fmt.Errorf("server h:1: %w", tc.err))
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("tlsHint(%v, %v) = %q; want %q", tc.tls, tc.err, got, tc.want)
		}
	}
}
