package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
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
// through one Lock on a pool of pgx's default size, keeps them all alive
// (from their acquisition) past their ttl, and releases them at once: no call fails (each waits
// its turn for a connection, within the statement timeout), no lease is
// lost, and the keep-alives go in batches, not a statement per lease.
func TestBurstAndKeepAlive(t *testing.T) {
	pool, count := countedPool(t, realURL(t))
	l := mustNew(t, pool, nil)
	defer l.Close()
	// n is under the race detector's goroutine limit; ttl is above the
	// burst's length under -race on a loaded 2-core machine (a lease whose
	// acquisition queued longer than its ttl is born expired).
	const n, ttl = 3000, 5 * time.Second
	ctx := context.Background()
	run := fmt.Sprintf("burst:%d:", time.Now().UnixNano())
	leases := make([]*lock.Lease, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			s, err := l.TryAcquire(ctx, fmt.Sprint(run, i), ttl)
			if err == nil {
				err = s.KeepAlive(ctx, 0)
			}
			if err != nil {
				errs <- err
				return
			}
			leases[i] = s
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatalf("a TryAcquire of the burst failed: %v", err)
	}
	t.Logf("%d concurrent TryAcquire on %d connections: %v", n, pool.Config().MaxConns, took.Round(time.Millisecond))

	before := count.n.Load()
	hold := ttl + time.Second // the leases outlive their ttl
	time.Sleep(hold)          // real time is the subject: keep-alives past the ttl
	extends := count.n.Load() - before
	for i, s := range leases {
		if err := s.Err(); err != nil {
			t.Fatalf("lease %d lost under the keep-alive of %d leases: %v", i, n, err)
		}
	}
	// Each lease extends every ttl/3: 3 or 4 extends each in that time,
	// about 10,000 one by one. In batches, far fewer statements.
	if max := int64(n); extends > max {
		t.Errorf("%d statements kept %d leases alive for %v; want batches (at most %d)", extends, n, hold, max)
	}
	t.Logf("%d leases kept alive for %v with %d statements", n, hold, extends)

	errs = make(chan error, n)
	for _, s := range leases {
		wg.Go(func() {
			if err := s.Release(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a Release of the burst failed: %v", err)
	}
}

// TestCrowdOfWaiters has hundreds of goroutines wait, through two Lock
// values of two scopes (as two processes would), for a key another Lock
// holds: while the holder lives, each Lock asks the store about once a
// second, not once per waiter; after the release, every waiter gets the
// lock in turn.
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
		counts  []*statementCounter
	)
	for _, r := range []string{raw, other.String()} {
		pool, c := countedPool(t, r)
		w := mustNew(t, pool, &postgres.Options{Options: lock.Options{RetryInterval: 50 * time.Millisecond}})
		defer w.Close()
		waiters, counts = append(waiters, w), append(counts, c)
	}
	ctx := context.Background()
	key := fmt.Sprintf("crowd:%d", time.Now().UnixNano())
	s, err := holder.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const crowd = 400
	var (
		wg       sync.WaitGroup
		acquired atomic.Int64
		started  sync.WaitGroup
	)
	started.Add(crowd)
	before := []int64{counts[0].n.Load(), counts[1].n.Load()}
	for i := range crowd {
		wg.Go(func() {
			started.Done()
			wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			w, err := waiters[i%2].Acquire(wctx, key, time.Minute)
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			acquired.Add(1)
			if err := w.Release(ctx); err != nil {
				t.Errorf("waiter %d: release: %v", i, err)
			}
		})
	}
	started.Wait()
	const hold = 3 * time.Second
	time.Sleep(hold) // real time is the subject: the waiters' rate while the holder lives
	for i, c := range counts {
		sent := c.n.Load() - before[i]
		// One asking wait per Lock, once a second, plus its first try and
		// the in-process queue's own: a few.
		if max := int64(hold/time.Second) + 3; sent > max {
			t.Errorf("Lock %d sent %d statements for %d waits in %v of a live holder; want at most %d", i, sent, crowd/2, hold, max)
		}
		t.Logf("Lock %d: %d statements for %d waits in %v of a live holder", i, sent, crowd/2, hold)
	}
	if n := acquired.Load(); n != 0 {
		t.Fatalf("%d waiters acquired a held lock", n)
	}
	released := time.Now()
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := acquired.Load(); n != crowd {
		t.Fatalf("%d of %d waiters acquired the lock", n, crowd)
	}
	t.Logf("%d hand-offs in %v", crowd, time.Since(released).Round(time.Millisecond))
}
