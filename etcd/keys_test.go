package etcd_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/distlock/lock/etcd"
)

// TestStoredInjective: a long key is stored as a mark byte and its hash;
// a short key that spells that mark and hash in other bytes (the mark's
// code point in UTF-8) stays a key of its own.
func TestStoredInjective(t *testing.T) {
	long := strings.Repeat("k", 300)
	sum := sha256.Sum256([]byte(long))
	for _, crafted := range []string{"\u00ff" + string(sum[:]), "\xff" + string(sum[:])} {
		if etcd.Stored("p/", crafted) == etcd.Stored("p/", long) {
			t.Errorf("keys %q and a 300-byte key share the etcd key %q", crafted, etcd.Stored("p/", long))
		}
	}
	if got := etcd.Stored("p/", long); !strings.HasPrefix(got, "p/\xff") || len(got) != len("p/")+1+sha256.Size {
		t.Errorf("a 300-byte key is stored as %q; want p/, the byte 0xff and its SHA-256", got)
	}
}

// TestAnswers: the cluster's refusals (as the client returns them) are
// answers, which a wait does not retry; failures in transit are not.
func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{rpctypes.ErrPermissionDenied, true},
		{rpctypes.ErrAuthFailed, true},
		{fmt.Errorf("wrapped: %w", rpctypes.ErrPermissionDenied), true},
		{rpctypes.ErrNoLeader, false},
		{rpctypes.ErrTimeout, false},
		{context.DeadlineExceeded, false},
		{errors.New("connection reset"), false},
	} {
		if got := etcd.Answer(tc.err); got != tc.want {
			t.Errorf("answer(%v) = %v; want %v", tc.err, got, tc.want)
		}
	}
}
