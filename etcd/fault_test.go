package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distlock/lock"
	"github.com/distlock/lock/etcd"
	"github.com/distlock/lock/locktest/faulttest"
)

// The fault tests run the table of locktest/faulttest (one fault injected
// around one call, through a proxy, and checked against the cluster
// directly) on the etcd of testURL: the in-process one, or the cluster of
// LOCK_TEST_ETCD_URL, through a proxy in front of its first endpoint (the
// proxy forwards to one address; that member forwards to the leader). The
// Lock is opened by URL, so with the defaults: each call within
// etcd.DefaultTimeout. They log a table of the figures.

// callTimeout bounds each call of a Lock opened by URL: every primitive
// (Acquire, Release, Extend) runs all its requests under one ctx of
// Options.Timeout, DefaultTimeout by default.
const callTimeout = etcd.DefaultTimeout

// faultBackend is what the fault table needs to know of etcd.
func faultBackend(t *testing.T) *faulttest.Backend {
	return &faulttest.Backend{
		Column: "etcd",
		Stores: faultStores(t),
		// What the assertions allow above a bound: scheduling on a
		// loaded machine, 42 scenarios in parallel, -race, the
		// in-process etcd sharing the test's CPUs, and above all the
		// client's reconnection after a heal, which the table's
		// freeWithin (1s) leaves no room for: a fault that resets, cuts
		// or corrupts (a black hole drops bytes mid-stream, which breaks
		// HTTP/2's framing once it heals) a connection fails the
		// client's next dial too, and gRPC, whose backoff clientv3 keeps
		// (1s, x1.6, 20% jitter), dials again 0.8-1.2s later (then
		// 1.3-1.9s after that); the Lock's calls wait for that
		// connection (clientv3's WaitForReady). Measured: the key free
		// up to 1.21s after the heal. Still far under callTimeout, so
		// that one more timed-out primitive fails.
		Slack: 500 * time.Millisecond,
		// One primitive, whatever it sends: Release is one Txn; Extend
		// a KeepAliveOnce in parallel with a Get, or a Grant then a Txn
		// (a new ttl); all under one ctx of callTimeout, which also
		// bounds the client's waits for a connection (clientv3 calls
		// wait for a ready one: WaitForReady) and its own retries (their
		// backoff selects on the ctx). The revoke of a released or
		// replaced lease runs in the background, unwaited.
		CallBound: callTimeout,
		// TryAcquire makes one attempt, never resent: one
		// AcquireFenced, whose Grant then Txn (a fresh lease), or Txn in
		// parallel with a KeepAliveOnce (a spare lease) and, if the spare
		// had expired, a Grant then a Txn again, all share one ctx of
		// callTimeout. The release of a token that a failed attempt may
		// have stored runs in the background, unwaited.
		TryAcquireBound: callTimeout,
		// A lock's lease counts whole seconds: the backend asks for the
		// ttl rounded up to a second, plus a second (so that a spare
		// renewed within the last second still outlives the ttl; the
		// package doc, # Round trips): 11s for faulttest.TTL. TimeToLive
		// shows the time left truncated to whole seconds (etcd's
		// Remaining().Seconds(), read on the leader), so at most 10s
		// even just after a grant or a renewal: the ttl rounded up to a
		// second. An Extend to 3*TTL moves the key to a lease of 31s,
		// which shows 30s at once. (A leader change would restart every
		// lease's countdown, plus the election timeout; there is none
		// here.)
		AcquiredTTL: (faulttest.TTL + time.Second - 1).Truncate(time.Second),
	}
}

// faultStores are the clusters the fault tests run against: the one of
// testURL.
func faultStores(t *testing.T) []faulttest.Store {
	raw := testURL(t)
	base, err := lock.ParseURL(raw)
	if err != nil {
		t.Fatalf("etcd URL: %v", err)
	}
	first, _, _ := strings.Cut(base.Host, ",")
	addr := first
	if _, _, err := net.SplitHostPort(first); err != nil {
		addr = net.JoinHostPort(first, "2379")
	}
	name := "in-process"
	if os.Getenv("LOCK_TEST_ETCD_URL") != "" {
		name = "cluster"
	}
	direct := testClient(t) // straight to the cluster, not through the proxy
	return []faulttest.Store{{
		Name: name,
		Start: func(t *testing.T, lossy bool) faulttest.Server {
			if lossy {
				t.Skip("etcd is durable: a restart keeps every committed key and lease (their ttls start again), so there is no data loss to inject")
			}
			lockURL := func(proxyAddr, prefix string) string {
				u := *base
				u.Host = proxyAddr
				q := u.Query()
				q.Set("prefix", prefix)
				tls := strings.EqualFold(u.Scheme, etcd.SchemeTLS) || q.Get("tls") == "true"
				if tls && q.Get("server_name") == "" {
					// The certificate names the member, not the proxy.
					host, _, _ := net.SplitHostPort(addr)
					q.Set("server_name", host)
				}
				u.RawQuery = q.Encode()
				return u.String()
			}
			return faultServer(addr, direct, lockURL)
		},
	}}
}

// faultServer is the cluster at addr to the fault table: read through
// direct, a client straight to it; its Lock's URL made by lockURL. The
// keys the table passes are whole, prefix included: stored as a Lock with
// no prefix stores them.
func faultServer(addr string, direct *clientv3.Client, lockURL func(proxyAddr, prefix string) string) faulttest.Server {
	get := func(ctx context.Context, key string) (*clientv3.GetResponse, error) {
		resp, err := direct.Get(ctx, etcd.Stored("", key))
		if err != nil {
			return nil, fmt.Errorf("Get: %w", err)
		}
		return resp, nil
	}
	return faulttest.Server{
		Addr: addr,
		URL:  lockURL,
		Token: func(key string) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := get(ctx, key)
			if err != nil || len(resp.Kvs) == 0 {
				return "", err
			}
			return string(resp.Kvs[0].Value), nil
		},
		TTL: func(key string) (time.Duration, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := get(ctx, key)
			if err != nil || len(resp.Kvs) == 0 {
				return 0, err
			}
			id := clientv3.LeaseID(resp.Kvs[0].Lease)
			if id == clientv3.NoLease {
				return 0, fmt.Errorf("key %q has no lease: it never expires", key)
			}
			ttl, err := direct.TimeToLive(ctx, id)
			switch {
			case errors.Is(err, rpctypes.ErrLeaseNotFound):
				return 0, nil // expired since the Get
			case err != nil:
				return 0, fmt.Errorf("TimeToLive: %w", err)
			case ttl.TTL <= 0: // -1: expired since the Get
				return 0, nil
			}
			return time.Duration(ttl.TTL) * time.Second, nil
		},
		// Start skips the lossy scenarios, the only ones that call Lose.
		Lose: func(keys ...string) {
			panic(fmt.Sprintf("Lose(%q) called in a scenario that Start was not told is lossy", keys))
		},
	}
}

// TestFaults runs every op under every fault, on the etcd of testURL.
func TestFaults(t *testing.T) {
	t.Parallel() // real time: timeouts and latencies; its scenarios run in parallel too
	faulttest.Run(t, faultBackend(t))
}
