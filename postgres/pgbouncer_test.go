package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
	"github.com/distlock/lock/locktest"
	"github.com/distlock/lock/postgres"
)

// The tests of this file run through PgBouncer in transaction mode, whose
// URL LOCK_TEST_PGBOUNCER_URL gives: each transaction may get another
// server connection, so prepared statements and LISTEN do not last.

func bouncerURL(t testing.TB) string {
	t.Helper()
	return envURL(t, "LOCK_TEST_PGBOUNCER_URL", "the URL of a PgBouncer in transaction mode in front of a PostgreSQL")
}

// bouncerPool returns a pool with pgx's defaults (prepared statements,
// cached per connection) through PgBouncer.
func bouncerPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return poolOn(t, "LOCK_TEST_PGBOUNCER_URL", bouncerURL(t))
}

// TestPgBouncerConformance runs the suite through PgBouncer on a pool
// with pgx's defaults. LISTEN cannot work there: the harness's Locks do
// without (Watch returns nil, and the suite skips its Watch check).
func TestPgBouncerConformance(t *testing.T) {
	pool := bouncerPool(t)
	opts := *testOpts
	opts.NoListen = true
	locktest.Run(t, locktest.Harness{
		New:           func(t *testing.T) lock.Lock { return mustNew(t, pool, &opts) },
		Delete:        deleteWith(pool, postgres.DefaultTable, ""),
		Granularity:   granularity,
		RetryInterval: testRetry,
	})
}

// logRecorder is a slog.Handler that keeps the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	got  chan string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	select {
	case r.got <- rec.Message:
	default:
	}
	return nil
}

// TestPgBouncerPlainURL opens the plain URL through PgBouncer: the Lock
// finds, and logs, that notifications do not reach its LISTEN, and that
// prepared statements do not last; its calls from many goroutines all
// succeed, and a wait still takes a lock released by another Lock value
// within about a second (it looks again once a second while the holder
// lives).
func TestPgBouncerPlainURL(t *testing.T) {
	raw := bouncerURL(t)
	rec := &logRecorder{got: make(chan string, 16)}
	ctx := context.Background()
	open := func() lock.Lock {
		l, err := postgres.New(ctx, bouncerPool(t), &postgres.Options{Options: lock.Options{Logger: slog.New(rec), RetryInterval: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	l, err := lock.Open(ctx, raw)
	if err != nil {
		t.Fatalf("Open through PgBouncer: %v", err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 40 {
		wg.Go(func() {
			for i := range 25 {
				s, err := l.TryAcquire(ctx, "pgbouncer:"+strings.Repeat("k", g%3)+string(rune('a'+i%26)), time.Minute)
				if errors.Is(err, lock.ErrNotAcquired) {
					continue // another goroutine holds it
				}
				if err != nil {
					errs <- err
					return
				}
				if s != nil {
					if err := s.Release(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a call through PgBouncer failed: %v", err)
	}

	holder, waiter := open(), open()
	deadline := time.After(10 * time.Second)
	for deaf := false; !deaf; {
		select {
		case msg := <-rec.got:
			deaf = strings.Contains(msg, "LISTEN does not receive")
		case <-deadline:
			t.Fatalf("no log that LISTEN does not work through PgBouncer; logged: %q", rec.msgs)
		}
	}
	s, err := holder.TryAcquire(ctx, "pgbouncer:handoff", time.Minute)
	if err != nil || s == nil {
		t.Fatalf("TryAcquire = %v, %v", s, err)
	}
	got := make(chan time.Time, 1)
	go func() {
		w, err := waiter.Acquire(ctx, "pgbouncer:handoff", time.Minute)
		if err != nil {
			t.Error(err)
			got <- time.Time{}
			return
		}
		got <- time.Now()
		w.Release(ctx)
	}()
	time.Sleep(100 * time.Millisecond) // the wait's first attempt is refused
	released := time.Now()
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		if took := at.Sub(released); !at.IsZero() && took > 3*time.Second {
			t.Errorf("the wait took the released lock after %v; want about a second at most", took)
		} else {
			t.Logf("hand-off through PgBouncer, without NOTIFY: %v", took.Round(time.Millisecond))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the wait did not take the released lock within 20s")
	}
}
