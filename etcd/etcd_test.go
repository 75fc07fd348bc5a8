package etcd_test

import (
	"context"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distlock/lock"
	"github.com/distlock/lock/etcd"
	"github.com/distlock/lock/locktest"
)

// testRetry is the retry interval of the test Locks: small, so waits are
// quick.
const testRetry = 20 * time.Millisecond

var testOpts = &etcd.Options{Options: lock.Options{RetryInterval: testRetry}}

// granularity is how much longer than its ttl a lock may live: its lease
// counts whole seconds, at least the server's minimum lease ttl (a second
// in-process, two with etcd's default election timeout), and the leader
// looks for expired leases every half second.
func granularity() time.Duration {
	if os.Getenv("LOCK_TEST_ETCD_URL") != "" {
		return 3 * time.Second
	}
	return 2 * time.Second
}

func mustNew(t testing.TB, c *clientv3.Client, opts *etcd.Options) lock.Lock {
	t.Helper()
	l, err := etcd.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// deleteWith returns a locktest Delete hook that deletes key with c, as an
// operator would.
func deleteWith(c *clientv3.Client, prefix string) func(*testing.T, string) {
	return func(t *testing.T, key string) {
		if _, err := c.Delete(context.Background(), etcd.Stored(prefix, key)); err != nil {
			t.Fatalf("deleting %q behind its holder's back: %v", key, err)
		}
	}
}

func TestConformance(t *testing.T) {
	c := testClient(t)
	locktest.Run(t, locktest.Harness{
		New:           func(t *testing.T) lock.Lock { return mustNew(t, c, testOpts) },
		Delete:        deleteWith(c, etcd.DefaultPrefix),
		Granularity:   granularity(),
		TTL:           time.Second,
		RetryInterval: testRetry,
	})
}
