package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/postgres"
)

// testRetry is the retry interval of the test Locks: small, so waits are
// quick.
const testRetry = 20 * time.Millisecond

var testOpts = &postgres.Options{Options: lock.Options{RetryInterval: testRetry}}

// granularity is how much longer than its ttl a lock may live: its expiry
// is the start of the statement plus the ttl in whole microseconds, on the
// database's clock.
const granularity = 2 * time.Millisecond

// realURL returns LOCK_TEST_POSTGRES_URL, or skips the test when it is
// unset.
func realURL(t testing.TB) string {
	t.Helper()
	return envURL(t, "LOCK_TEST_POSTGRES_URL", "a PostgreSQL URL (postgres://user@host:5432/db)")
}

// envURL returns the URL in variable name, or skips the test, saying what
// to set it to, when it is unset.
func envURL(t testing.TB, name, what string) string {
	t.Helper()
	u := os.Getenv(name)
	if u == "" {
		t.Skipf("%s is not set: set it to %s to run the tests that need it", name, what)
	}
	return u
}

// realPool returns a pool on LOCK_TEST_POSTGRES_URL, closed when the test
// ends. A URL that is set but unreachable fails the test.
func realPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return poolOn(t, "LOCK_TEST_POSTGRES_URL", realURL(t))
}

// poolOn returns a pool with pgx's defaults on rawURL, from variable name,
// closed when the test ends; a server that does not answer fails the test.
func poolOn(t testing.TB, name, rawURL string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, rawURL)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("%s is set but the server does not answer: %v", name, err)
	}
	return pool
}

func mustNew(t testing.TB, pool *pgxpool.Pool, opts *postgres.Options) lock.Lock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := postgres.New(ctx, pool, opts)
	if err != nil {
		t.Fatalf("postgres.New: %v", err)
	}
	return l
}

// deleteWith returns a locktest Delete hook that deletes the row of key
// from table, as an operator would.
func deleteWith(pool *pgxpool.Pool, table, prefix string) func(*testing.T, string) {
	return func(t *testing.T, key string) {
		_, err := pool.Exec(context.Background(), "DELETE FROM "+pgx.Identifier{table}.Sanitize()+" WHERE key = $1", pgx.QueryExecModeExec, postgres.Stored(prefix, key))
		if err != nil {
			t.Fatalf("deleting %q behind its holder's back: %v", key, err)
		}
	}
}

func TestConformance(t *testing.T) {
	pool := realPool(t)
	locktest.Run(t, locktest.Harness{
		New:           func(t *testing.T) lock.Lock { return mustNew(t, pool, testOpts) },
		Delete:        deleteWith(pool, postgres.DefaultTable, ""),
		Granularity:   granularity,
		RetryInterval: testRetry,
	})
}
