package postgres_test

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/postgres"
)

// statementCounter is a pgx tracer that counts the statements a pool
// sends.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// countedPool returns a pool on rawURL (pgx's defaults) whose statements
// are counted.
func countedPool(t *testing.T, rawURL string) (*pgxpool.Pool, *statementCounter) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c := &statementCounter{}
	cfg.ConnConfig.Tracer = c
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, c
}

// TestBurstAndKeepAlive makes thousands of concurrent acquisitions
// through one Lock on a pool of pgx's default size and keeps them alive
// (locktest.Burst): no call fails, no lease is lost, and the keep-alives
// go in batches, not a statement per lease.
func TestBurstAndKeepAlive(t *testing.T) {
	pool, count := countedPool(t, realURL(t))
	l := mustNew(t, pool, nil)
	defer l.Close()
	// n is under the race detector's goroutine limit; ttl is above the
	// burst's length under -race on a loaded 2-core machine.
	const n, ttl = 3000, 5 * time.Second
	took, extends := locktest.Burst(t, l, n, ttl, count.n.Load)
	t.Logf("%d concurrent TryAcquire on %d connections: %v", n, pool.Config().MaxConns, took.Round(time.Millisecond))
	// Each lease extends every ttl/3: 3 or 4 extends each in ttl+1s,
	// about 10,000 one by one. In batches, far fewer statements.
	if max := int64(n); extends > max {
		t.Errorf("%d statements kept %d leases alive; want batches (at most %d)", extends, n, max)
	}
	t.Logf("%d leases kept alive for %v with %d statements", n, ttl+time.Second, extends)
}

// TestCrowdOfWaiters has hundreds of goroutines wait, through two Lock
// values of two scopes (127.0.0.1 and localhost, as two processes would
// be), for a key another Lock holds (locktest.Crowd): while the holder
// lives, each Lock asks about once a second, not once per waiter.
func TestCrowdOfWaiters(t *testing.T) {
	raw := realURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Hostname() != "127.0.0.1" {
		t.Skip("needs LOCK_TEST_POSTGRES_URL on 127.0.0.1, reached as localhost too for a second scope")
	}
	other := *u
	other.Host = "localhost:" + u.Port()
	holder := mustNew(t, realPool(t), nil)
	defer holder.Close()
	var (
		waiters []lock.Lock
		sent    []func() int64
	)
	for _, r := range []string{raw, other.String()} {
		pool, c := countedPool(t, r)
		w := mustNew(t, pool, &postgres.Options{Options: lock.Options{RetryInterval: 50 * time.Millisecond}})
		defer w.Close()
		waiters, sent = append(waiters, w), append(sent, c.n.Load)
	}
	locktest.Crowd(t, holder, waiters, sent, 400, 3*time.Second)
}
