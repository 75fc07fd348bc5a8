package faulttest_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/distlock/lock/locktest/faulttest"
	"github.com/distlock/lock/redis"
)

// A backend's fault test tells the table how to start a server for each
// scenario, open a Lock on it by URL through the proxy (with the
// scenario's key prefix), read a key's token and ttl on the server
// directly, and lose its data; and the bounds that the backend's package
// doc states for its defaults. Here the backend is package redis, on
// miniredis, an in-process redis server. In a backend's package,
// testFaults is a test function: func TestFaults(t *testing.T).
func Example_backend() {
	testFaults := func(t *testing.T) {
		faulttest.Run(t, &faulttest.Backend{
			Column: "store",
			Stores: []faulttest.Store{{
				Name: "miniredis",
				Start: func(t *testing.T, lossy bool) faulttest.Server {
					mr := miniredis.RunT(t) // a server per scenario, closed at its end
					return faulttest.Server{
						Addr: mr.Addr(),
						URL: func(proxyAddr, prefix string) string {
							return "redis://" + proxyAddr + "?prefix=" + url.QueryEscape(prefix)
						},
						Token: func(key string) (string, error) {
							token, err := mr.Get(key)
							if errors.Is(err, miniredis.ErrKeyNotFound) {
								return "", nil
							}
							return token, err
						},
						TTL: func(key string) (time.Duration, error) { return mr.TTL(key), nil },
						Lose: func(keys ...string) {
							for _, k := range keys {
								mr.Del(k)
							}
						},
					}
				},
			}},
			// Under one round trip's timeout: one more timed out fails.
			Slack: 250 * time.Millisecond,
			// The redis package doc: each round trip within
			// DefaultTimeout, and a TryAcquire within two (an acquire
			// whose outcome is unknown is sent once more).
			CallBound:       redis.DefaultTimeout,
			TryAcquireBound: 2 * redis.DefaultTimeout,
			// The server shows a lock's ttl in milliseconds, never
			// more than the ttl set.
			AcquiredTTL: faulttest.TTL,
		})
	}
	_ = testFaults
}
