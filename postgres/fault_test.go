package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock/locktest/faulttest"
	"github.com/distlock/lock/postgres"
)

// The fault tests run the table of locktest/faulttest (one fault injected
// around one call, through a proxy, and checked against the database
// directly) on the real PostgreSQL of LOCK_TEST_POSTGRES_URL, with a Lock
// opened by URL, so with the defaults: each statement within
// DefaultTimeout, the wait for a connection of the pool and the dial of a
// new one included. They log a table of the figures.

// faultBackend is what the fault table needs to know of postgres: a Lock
// opened by URL runs each call as one statement within
// postgres.DefaultTimeout, and never resends it.
func faultBackend(t *testing.T) *faulttest.Backend {
	return &faulttest.Backend{
		Column: "database",
		Stores: faultStores(t),
		// Under one statement's timeout, so that one more statement
		// timed out fails.
		Slack: 250 * time.Millisecond,
		// One statement: its timeout bounds the wait for a connection of
		// the pool, the dial of a new one when the pool's was broken (the
		// connect timeout, the statement timeout by default, is only an
		// earlier end within it) and the round trip. The resend of a
		// statement that a pooler kept from its prepared statement is
		// made within the same timeout.
		CallBound: postgres.DefaultTimeout,
		// The root makes one attempt (a token it may have stored is
		// released in the background, not waited for), and the backend
		// never resends or reads back: one statement.
		TryAcquireBound: postgres.DefaultTimeout,
		// A lock expires at the start of its statement plus the ttl in
		// whole microseconds (10s exactly), and is read against the start
		// of a later statement, on the same clock: never more than the
		// ttl.
		AcquiredTTL: faulttest.TTL,
	}
}

// faultStores are the databases the fault tests run against: the one of
// LOCK_TEST_POSTGRES_URL.
func faultStores(t *testing.T) []faulttest.Store {
	raw := realURL(t)
	base, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("LOCK_TEST_POSTGRES_URL: %v", err)
	}
	port := base.Port()
	if port == "" {
		port = "5432"
	}
	addr := net.JoinHostPort(base.Hostname(), port)
	direct := realPool(t)
	return []faulttest.Store{{
		Name: "real",
		Start: func(t *testing.T, lossy bool) faulttest.Server {
			if lossy {
				t.Skip("PostgreSQL is durable: a restart keeps every committed lock, so there is no data loss to inject")
			}
			lockURL := func(proxyAddr, prefix string) string {
				u := *base
				u.Host = proxyAddr
				q := u.Query()
				q.Set("prefix", prefix)
				u.RawQuery = q.Encode()
				return u.String()
			}
			return faultServer(t, addr, direct, lockURL)
		},
	}}
}

// faultServer is the database at addr to the fault table: read through
// direct, a pool straight to it (not through the proxy), in the default
// table; its Lock's URL made by lockURL.
func faultServer(t *testing.T, addr string, direct *pgxpool.Pool, lockURL func(proxyAddr, prefix string) string) faulttest.Server {
	table := pgx.Identifier{postgres.DefaultTable}.Sanitize()
	// The statements go unprepared, each in one round trip (the server
	// may be behind a pooler in transaction mode). The keys the table
	// passes are whole, prefix included: stored as a Lock with no prefix
	// stores them.
	tokenSQL := `SELECT token FROM ` + table + ` WHERE key = $1 AND expires > now()`
	ttlSQL := `SELECT (extract(epoch FROM expires - now()) * 1000000)::int8 FROM ` + table + ` WHERE key = $1 AND expires > now()`
	return faulttest.Server{
		Addr: addr,
		URL:  lockURL,
		Token: func(key string) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var token []byte
			err := direct.QueryRow(ctx, tokenSQL, pgx.QueryExecModeExec, postgres.Stored("", key)).Scan(&token)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return "", nil
			case err != nil:
				return "", fmt.Errorf("SELECT token: %w", err)
			}
			return string(token), nil
		},
		TTL: func(key string) (time.Duration, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var us int64
			err := direct.QueryRow(ctx, ttlSQL, pgx.QueryExecModeExec, postgres.Stored("", key)).Scan(&us)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return 0, nil
			case err != nil:
				return 0, fmt.Errorf("SELECT expires - now(): %w", err)
			}
			return time.Duration(us) * time.Microsecond, nil
		},
		// Start skips the lossy scenarios, the only ones that call Lose.
		Lose: func(keys ...string) {
			t.Errorf("Lose(%q) called in a scenario that Start was not told is lossy", keys)
		},
	}
}

// TestFaults runs every op under every fault, on the database of
// LOCK_TEST_POSTGRES_URL.
func TestFaults(t *testing.T) {
	realURL(t)
	t.Parallel() // real time: timeouts and latencies; its scenarios run in parallel too
	faulttest.Run(t, faultBackend(t))
}
