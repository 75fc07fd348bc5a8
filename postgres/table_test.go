package postgres_test

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock/postgres"
)

// freshTable returns the name of a table that does not exist yet, dropped
// (with its sequence) when the test ends.
func freshTable(t *testing.T) string {
	name := "distlock_t_" + strings.ToLower(rand.Text()[:8])
	pool := realPool(t)
	t.Cleanup(func() {
		pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+name, pgx.QueryExecModeExec)
	})
	return name
}

// TestCreateConcurrently: Locks of many processes starting at once on a
// missing table all create it, or find it, without an error.
func TestCreateConcurrently(t *testing.T) {
	const n = 16
	table := freshTable(t)
	// A pool per process, each connected already, released at once.
	pools := make([]*pgxpool.Pool, n)
	for i := range pools {
		pools[i] = realPool(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			<-start
			l, err := postgres.New(ctx, pools[i], &postgres.Options{Table: table})
			if err != nil {
				errs <- err
				return
			}
			l.Close()
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("New on a missing table, %d at once: %v", n, err)
	}
}

// TestSweep: the sweep deletes the rows of expired locks, leaves live
// ones, and fences keep growing after the rows are gone.
func TestSweep(t *testing.T) {
	pool, table := realPool(t), freshTable(t)
	ctx := context.Background()
	l := mustNew(t, pool, &postgres.Options{Table: table})
	defer l.Close()
	live, err := l.TryAcquire(ctx, "live", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for _, k := range []string{"a", "b", "c"} {
		s, err := l.TryAcquire(ctx, k, 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		last, _ = s.Fence()
	}
	time.Sleep(50 * time.Millisecond) // real time: the three expire
	n, err := postgres.Sweep(ctx, l)
	if err != nil || n != 3 {
		t.Fatalf("Sweep() = %d, %v; want the 3 expired rows deleted", n, err)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table, pgx.QueryExecModeExec).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("rows after the sweep = %d, %v; want the live lock's alone", rows, err)
	}
	if err := live.Extend(ctx, time.Minute); err != nil {
		t.Fatalf("the live lock after the sweep: %v", err)
	}
	s, err := l.TryAcquire(ctx, "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Fence(); f <= last {
		t.Fatalf("fence after the sweep = %d; want above %d", f, last)
	}
}
