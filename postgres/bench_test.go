package postgres_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/postgres"
)

// The benchmarks need a server (LOCK_TEST_POSTGRES_URL); each runs on a
// pool of its own made from that URL with pgx's defaults.

// BenchmarkCycle measures TryAcquire and Release of a lease: two
// statements, one round trip each.
func BenchmarkCycle(b *testing.B) {
	l := mustNew(b, realPool(b), nil)
	defer l.Close()
	locktest.BenchmarkCycle(b, l)
}

// rawTable creates a table like the Lock's, without its sequence, for the
// raw baselines, and drops it when the benchmark ends.
func rawTable(b *testing.B, pool *pgxpool.Pool) string {
	name := "distlock_raw_" + rand.Text()[:8]
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE "+name+" (key bytea PRIMARY KEY, token bytea NOT NULL, expires timestamptz NOT NULL)", pgx.QueryExecModeExec); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pool.Exec(context.Background(), "DROP TABLE "+name, pgx.QueryExecModeExec) })
	return name
}

// benchRaw runs an INSERT and an owner-checked DELETE of one row per
// iteration, in mode.
func benchRaw(b *testing.B, mode pgx.QueryExecMode) {
	pool := realPool(b)
	table := rawTable(b, pool)
	ctx := context.Background()
	key, token := []byte("bench:raw:"+rand.Text()), []byte(rand.Text())
	insert := "INSERT INTO " + table + " (key, token, expires) VALUES ($1, $2, now() + $3 * interval '1 microsecond')"
	del := "DELETE FROM " + table + " WHERE key = $1 AND token = $2"
	for b.Loop() {
		if _, err := pool.Exec(ctx, insert, mode, key, token, int64(60e6)); err != nil {
			b.Fatal(err)
		}
		if _, err := pool.Exec(ctx, del, mode, key, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawInsertDelete is the baseline of BenchmarkCycle: a plain
// INSERT and DELETE on the same kind of pool, with pgx's default mode
// (prepared statements, cached per connection).
func BenchmarkRawInsertDelete(b *testing.B) { benchRaw(b, pgx.QueryExecModeCacheStatement) }

// BenchmarkRawInsertDeleteExec is BenchmarkRawInsertDelete in the mode
// of the Lock's statements (unnamed, no session state).
func BenchmarkRawInsertDeleteExec(b *testing.B) { benchRaw(b, pgx.QueryExecModeExec) }

// BenchmarkParallelDistinctKeys measures cycles of goroutines that each
// lock keys of their own, through one Lock value.
func BenchmarkParallelDistinctKeys(b *testing.B) {
	l := mustNew(b, realPool(b), nil)
	defer l.Close()
	locktest.BenchmarkParallelDistinctKeys(b, l)
}

// BenchmarkHandOff measures the time from a release to the moment a
// waiting Acquire on another Lock value returns (locktest.BenchmarkHandOff).
// The retry interval is a second: the wait wakes on the release's NOTIFY,
// not on a poll.
func BenchmarkHandOff(b *testing.B) {
	pool := realPool(b)
	slow := &postgres.Options{Options: lock.Options{RetryInterval: time.Second}}
	holder, waiter := mustNew(b, pool, slow), mustNew(b, pool, slow)
	defer holder.Close()
	defer waiter.Close()
	// The wait's first attempt, refused, takes a millisecond or so.
	locktest.BenchmarkHandOff(b, holder, waiter, 20*time.Millisecond)
}
