package redis_test

import (
	"net/url"
	"os"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
)

// envURL returns the URL in env with the test Locks' retry interval added,
// or skips the test when env is not set.
func envURL(t *testing.T, env string) string {
	t.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		t.Skip(env + " not set")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	q := u.Query()
	q.Set("retry_interval", "20ms")
	u.RawQuery = q.Encode()
	return u.String()
}

// runOpened runs the conformance suite on Lock values opened by raw.
func runOpened(t *testing.T, raw string) {
	t.Helper()
	l, err := lock.Open(ctxT(t), raw)
	if err != nil {
		t.Fatalf("lock.Open: %v", err) // set but unreachable: a failure, not a skip
	}
	l.Close()
	locktest.Run(t, realHarness(func(t *testing.T) lock.Lock { return mustOpen(t, raw) }))
}

// TestClusterReal runs the suite on a redis cluster named by
// LOCK_TEST_REDIS_CLUSTER_URL, such as
// redis://127.0.0.1:7000?cluster=true&addr=127.0.0.1:7001, by URL and over
// a ClusterClient of the caller's.
func TestClusterReal(t *testing.T) {
	raw := envURL(t, "LOCK_TEST_REDIS_CLUSTER_URL")
	t.Run("Open", func(t *testing.T) { runOpened(t, raw) })
	// The fencing counter must share its lock key's slot.
	t.Run("OpenFenced", func(t *testing.T) { runOpened(t, raw+"&fence=true") })
	t.Run("New", func(t *testing.T) {
		u, _ := url.Parse(raw)
		q := u.Query()
		q.Del("cluster")
		q.Del("retry_interval")
		u.RawQuery = q.Encode()
		o, err := goredis.ParseClusterURL(u.String())
		if err != nil {
			t.Fatalf("ParseClusterURL: %v", err)
		}
		c := goredis.NewClusterClient(o)
		t.Cleanup(func() { c.Close() })
		if err := c.Ping(ctxT(t)).Err(); err != nil {
			t.Fatalf("cluster Ping: %v", err)
		}
		locktest.Run(t, realHarness(func(t *testing.T) lock.Lock { return mustNew(t, c, testOpts) }))
	})
}

// TestSentinelReal runs the suite on a primary watched by sentinels, named
// by LOCK_TEST_REDIS_SENTINEL_URL, such as
// redis://127.0.0.1:26379/0?master_name=mymaster.
func TestSentinelReal(t *testing.T) {
	runOpened(t, envURL(t, "LOCK_TEST_REDIS_SENTINEL_URL"))
}
