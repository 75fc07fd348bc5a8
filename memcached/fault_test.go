package memcached_test

import (
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/distlock/lock/locktest/faulttest"
	"github.com/distlock/lock/memcached"
)

// The fault tests run the table of locktest/faulttest (one fault injected
// around one call, through a proxy, and checked against the server
// directly) with a Lock opened by URL, so with the defaults: timeout
// 500ms, call_timeout 1s, 3 retries, over the meta protocol. They run on
// the fake, and on the real server of LOCK_TEST_MEMCACHED_URL when it is
// set; the restart there needs a memcached of its own, started from
// LOCK_TEST_MEMCACHED_BIN. They log a table of the figures.

// faultBackend is what the fault table needs to know of memcached.
func faultBackend(t *testing.T) *faulttest.Backend {
	return &faulttest.Backend{
		Column: "server",
		Stores: faultServers(t),
		// Under one attempt's timeout, so that one more attempt timed out
		// fails.
		Slack: 250 * time.Millisecond,
		// One call to the store, call_timeout, retries and read-backs
		// included.
		CallBound:       memcached.DefaultCallTimeout,
		TryAcquireBound: memcached.DefaultCallTimeout,
		// memcached counts whole seconds, and a lock is stored for its ttl
		// rounded up to one, plus two: ceil(10s)+2 = 12s.
		AcquiredTTL: faulttest.TTL + 2*time.Second,
	}
}

// faultServers are the servers the fault tests run against.
func faultServers(t *testing.T) []faulttest.Store {
	servers := []faulttest.Store{{
		Name: "fake",
		Start: func(t *testing.T, _ bool) faulttest.Server {
			srv, _ := startFake(t, nil)
			return faultServer(srv.Addr(), srv.Restart)
		},
	}}
	if os.Getenv("LOCK_TEST_MEMCACHED_URL") == "" {
		return servers
	}
	realClient(t) // configured: it must answer
	shared := realServers(t)[0]
	return append(servers, faulttest.Store{
		Name: "real",
		Start: func(t *testing.T, restartable bool) faulttest.Server {
			if !restartable {
				return faultServer(shared, nil) // each scenario's keys have their own prefix
			}
			// A restart needs a memcached of the test's own.
			return faultServer(startMemcached(t, "-m", "16"))
		},
	})
}

// faultServer is the server at addr to the fault table, read directly with
// peek; restart, when not nil, restarts it empty, which loses all its data
// and numbers cas ids from 1 again.
func faultServer(addr string, restart func()) faulttest.Server {
	return faulttest.Server{
		Addr: addr,
		URL: func(proxyAddr, prefix string) string {
			return "memcached://" + proxyAddr + "?prefix=" + url.QueryEscape(prefix)
		},
		Token: func(key string) (string, error) {
			token, _, err := peek(addr, key)
			return token, err
		},
		TTL: func(key string) (time.Duration, error) {
			_, ttl, err := peek(addr, key)
			return time.Duration(ttl) * time.Second, err
		},
		Lose: func(...string) { restart() },
	}
}

// TestFaults runs every op under every fault, on every server.
func TestFaults(t *testing.T) {
	t.Parallel() // real time: timeouts and latencies; its scenarios run in parallel too
	faulttest.Run(t, faultBackend(t))
}
