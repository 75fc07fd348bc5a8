package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
)

// The wake-ups: every release sends NOTIFY on the table's channel with a
// hash of its key; a watcher LISTENs on a connection of its own and closes
// the channels of the waits on that key.

// probeTimeout is how long a watcher waits for its own probe, a NOTIFY
// sent through the pool once LISTEN is in place, before it concludes that
// notifications do not reach it (behind a pooler in transaction mode,
// LISTEN binds a server connection that the pooler then hands to others).
const probeTimeout = 2 * time.Second

// maxReconnectPause caps the pauses between the watcher's tries to
// connect again after its connection is lost.
const maxReconnectPause = 5 * time.Second

type watcher struct {
	pool    *pgxpool.Pool
	channel string
	logger  *slog.Logger // nil: silent

	mu    sync.Mutex
	waits map[string]chan struct{} // by payload; closed on its NOTIFY
	deaf  bool                     // notifications do not arrive: watch returns nil

	stop context.CancelFunc
	done chan struct{}
}

func newWatcher(pool *pgxpool.Pool, channel string, opts *lock.Options) *watcher {
	ctx, stop := context.WithCancel(context.Background())
	w := &watcher{pool: pool, channel: channel, waits: make(map[string]chan struct{}), stop: stop, done: make(chan struct{})}
	if opts != nil {
		w.logger = opts.Logger
	}
	go w.run(ctx)
	return w
}

// watch returns the channel closed by the next NOTIFY of payload p, or
// when the watcher (re)connects, since a NOTIFY may have been missed
// while it was not listening.
func (w *watcher) watch(p string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.deaf {
		return nil
	}
	ch, ok := w.waits[p]
	if !ok {
		ch = make(chan struct{})
		w.waits[p] = ch
	}
	return ch
}

// wake closes the channel of payload p.
func (w *watcher) wake(p string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.waits[p]; ok {
		close(ch)
		delete(w.waits, p)
	}
}

// wakeAll closes every channel.
func (w *watcher) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, ch := range w.waits {
		close(ch)
		delete(w.waits, p)
	}
}

func (w *watcher) close() {
	w.stop()
	<-w.done
}

// run listens until ctx ends, connecting again after a connection is
// lost, and stops for good if its probe shows that notifications do not
// reach it.
func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.listen(ctx)
		if errors.Is(err, errNoDelivery) {
			w.mu.Lock()
			w.deaf = true
			w.mu.Unlock()
			w.wakeAll()
			logTo(w.logger, slog.LevelWarn, "postgres: LISTEN does not receive this process's NOTIFY (a pooler in transaction mode?): waits look again when the holder's lock expires, or once a second", nil)
			return
		}
		if ctx.Err() != nil {
			return
		}
		logTo(w.logger, slog.LevelInfo, "postgres: LISTEN connection lost; connecting again", err)
		select {
		case <-time.After(jitter(pause)):
		case <-ctx.Done():
			return
		}
		pause = min(2*pause, maxReconnectPause)
	}
}

var errNoDelivery = errors.New("postgres: notifications do not arrive")

// listen connects, LISTENs, checks that a NOTIFY sent through the pool
// arrives, wakes every wait (a release may have gone unseen before), and
// then wakes the waits of each NOTIFY until the connection fails.
func (w *watcher) listen(ctx context.Context) error {
	cfg := w.pool.Config().ConnConfig
	cctx, cancel := context.WithTimeout(ctx, probeTimeout)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{w.channel}.Sanitize(), noPrepare); err != nil {
		return err
	}
	probe := "probe:" + rand.Text()
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := w.pool.Exec(pctx, "SELECT pg_notify($1, $2)", noPrepare, w.channel, probe); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(pctx)
		if err != nil {
			if ctx.Err() == nil && pctx.Err() != nil {
				return errNoDelivery
			}
			return err
		}
		if n.Payload == probe {
			break
		}
		w.wake(n.Payload)
	}
	w.wakeAll()
	for {
		n, err := w.next(ctx, conn)
		switch {
		case err != nil:
			return err
		case n == nil:
			// A quiet spell: the channels of waits that no release woke
			// (their lock expired, or was acquired) go, so the map does
			// not grow; a wait still on one looks again.
			w.wakeAll()
		default:
			w.wake(n.Payload)
		}
	}
}

// idleWake is how long a watcher waits for a notification before it wakes
// every wait: see listen.
const idleWake = time.Minute

// next returns the next notification, or nil if none came for idleWake.
func (w *watcher) next(ctx context.Context, conn *pgx.Conn) (*pgconn.Notification, error) {
	nctx, cancel := context.WithTimeout(ctx, idleWake)
	defer cancel()
	n, err := conn.WaitForNotification(nctx)
	if err != nil && ctx.Err() == nil && nctx.Err() != nil && !conn.IsClosed() {
		return nil, nil
	}
	return n, err
}
