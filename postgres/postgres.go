package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
	"github.com/distlock/lock/driver"
	"github.com/distlock/lock/internal/keyhash"
)

const (
	// Scheme is the URL scheme of this package: postgres://, and
	// postgresql:// (SchemeLong), the URL forms of libpq and pgx.
	Scheme = "postgres"
	// SchemeLong is the other URL scheme of this package.
	SchemeLong = "postgresql"
	// DefaultTable is the table that keeps the locks when Options.Table
	// is empty.
	DefaultTable = "distlock"
	// DefaultTimeout bounds each statement of a Lock whose Options.Timeout
	// is zero (see Options.Timeout).
	DefaultTimeout = time.Second
	// SweepInterval is how often a Lock deletes the rows of locks that
	// expired, so that keys used once do not pile up.
	SweepInterval = time.Minute
)

// Options configures a Lock made by New. The zero value, and a nil
// *Options, mean the defaults.
type Options struct {
	lock.Options

	// Table is the table that keeps the locks, as name or schema.name
	// (each part taken as it is written, case included, not as SQL: it is
	// quoted). Empty means DefaultTable, in the connection's search_path.
	// The Locks of every process that share a lock must name the same
	// table, written the same way (schema-qualified or not): the channel
	// of their wake-ups is named after it.
	Table string

	// Prefix is prepended to every key. Empty means none: the table is
	// the locks' namespace.
	Prefix string

	// NoCreate makes New leave the table alone: it is managed with the
	// rest of the schema (its DDL is in the package doc), and must exist
	// before the first call.
	NoCreate bool

	// NoListen makes the Lock wake its waits without LISTEN: a wait then
	// looks again when the holder's lock expires, or once a second while
	// it lives. Without it the Lock holds one connection of its own (not
	// from the pool) for LISTEN, and falls back to the same by itself when
	// notifications do not reach it (behind a pooler in transaction mode).
	NoListen bool

	// Timeout bounds each statement, from when it has a connection of the
	// pool; the wait for one is bounded by ten times Timeout (a burst of
	// calls queues for the pool's connections). Zero means DefaultTimeout.
	Timeout time.Duration
}

func (o *Options) lockOptions() *lock.Options {
	if o == nil {
		return nil
	}
	return &o.Options
}

func (o *Options) timeout() time.Duration {
	if o == nil || o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// New returns a Lock that keeps its locks in a table of the database of
// pool, creating the table if it is missing (unless opts.NoCreate, when
// New sends nothing: a wrong host or password shows at the first call),
// within ctx. The pool stays the caller's: its settings are not changed,
// and the Lock's Close does not close it (close the Lock first: its Close
// releases what it holds through the pool). Besides the pool's, the Lock
// opens up to three connections of its own, with the pool's settings but
// not its hooks: one for LISTEN (unless opts.NoListen), from New on, and
// up to two for extends (keep-alives). The Lock's statements carry no
// session state, and are sent as the pool sends its own, unprepared once
// a pooler shows that prepared statements do not last: the pool may go
// through a pooler in transaction mode (see the package doc, # PgBouncer).
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (lock.Lock, error) {
	if pool == nil {
		return nil, errors.New("postgres: nil pool")
	}
	b, err := newBackend(ctx, pool, opts, false)
	if err != nil {
		return nil, err
	}
	return lock.New(b, opts.lockOptions()), nil
}

func newBackend(ctx context.Context, pool *pgxpool.Pool, opts *Options, owned bool) (*backend, error) {
	t, err := parseTable(opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	b := &backend{
		pool:     pool,
		owned:    owned,
		timeout:  opts.timeout(),
		sql:      statements(t),
		stop:     make(chan struct{}),
		poolMode: poolMode(pool),
	}
	if opts != nil {
		b.prefix, b.logger = opts.Prefix, opts.Logger
	}
	cc := pool.Config().ConnConfig
	b.scope = fmt.Sprintf("postgres %s:%d/%s %s %q", cc.Host, cc.Port, cc.Database, t.name, b.prefix)
	if opts == nil || !opts.NoCreate {
		if err := b.create(ctx, t); err != nil {
			return nil, err
		}
	}
	if b.extends, err = newExtendPool(pool); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts == nil || !opts.NoListen {
		b.watcher = newWatcher(pool, b.sql.channel, opts.lockOptions())
	}
	b.sweeping.Add(1)
	go b.sweep()
	return b, nil
}

// backend implements driver.Backend on a table; see the package doc.
type backend struct {
	pool    *pgxpool.Pool
	owned   bool          // pool was made from a URL: Close closes it
	extends *pgxpool.Pool // the Lock's own, for Extend and ExtendBatch: see newExtendPool
	prefix  string
	timeout time.Duration
	sql     sqlText
	scope   string
	watcher *watcher     // nil: NoListen
	logger  *slog.Logger // nil: silent

	poolMode   pgx.QueryExecMode // see mode
	unprepared atomic.Bool       // see call

	stop     chan struct{} // closed by Close: the sweep ends
	sweeping sync.WaitGroup
}

// noPrepare is the mode of the statements once a pooler (PgBouncer in
// transaction mode) has shown that prepared statements do not last:
// unnamed, each in one round trip, with no session state.
const noPrepare = pgx.QueryExecModeExec

// mode is how the statements are sent: as the pool sends its own
// (prepared once per connection, by default), unless that builds SQL
// text from the values (the simple protocol) or a pooler made prepared
// statements fail (see call): then as noPrepare.
func (b *backend) mode() pgx.QueryExecMode {
	if b.unprepared.Load() {
		return noPrepare
	}
	return b.poolMode
}

// poolMode returns the mode of the backend's statements over pool.
func poolMode(pool *pgxpool.Pool) pgx.QueryExecMode {
	switch m := pool.Config().ConnConfig.DefaultQueryExecMode; m {
	case pgx.QueryExecModeSimpleProtocol:
		return noPrepare
	default:
		return m
	}
}

// lostPrepared reports whether err says that a prepared statement was
// missing (26000) or existed already (42P05) on the server connection:
// a pooler gave the statement another connection than the one it was
// prepared on. The statement was not run.
func lostPrepared(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "26000" || pe.Code == "42P05")
}

// stored returns the key stored for key: prefix+key, or its hash when it
// is long (a btree row holds about 2.7 kB at most); see keyhash.Map.
func (b *backend) stored(key string) []byte {
	return []byte(keyhash.Map(b.prefix + key))
}

// payload is the NOTIFY payload of a release of the stored key k.
func payload(k []byte) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:12])
}

// micros returns ttl in whole microseconds, the clock of PostgreSQL's
// timestamps, rounded up.
func micros(ttl time.Duration) int64 {
	us := int64(ttl / time.Microsecond)
	if ttl%time.Microsecond != 0 {
		us++
	}
	return us
}

// queueBound is how many statement timeouts a call may wait for a
// connection of the pool: a burst of calls queues for the pool's
// connections rather than failing, and a pool whose connections all
// hang still ends the calls that queue behind them.
const queueBound = 10

// call runs f, a statement sent in mode on a connection of the pool, under
// the statement timeout, after a wait for the connection bounded by
// queueBound timeouts. A statement that a pooler kept from its prepared
// statement is sent again (it was not run) without one, as every later
// statement is.
func (b *backend) call(ctx context.Context, f func(ctx context.Context, c *pgxpool.Conn, mode pgx.QueryExecMode) error) error {
	return b.callOn(b.pool, ctx, f)
}

// callOn is call on pool.
func (b *backend) callOn(pool *pgxpool.Pool, ctx context.Context, f func(ctx context.Context, c *pgxpool.Conn, mode pgx.QueryExecMode) error) error {
	actx, cancel := context.WithTimeout(ctx, queueBound*b.timeout)
	c, err := pool.Acquire(actx)
	cancel()
	if err != nil {
		return wrap(err)
	}
	defer c.Release()
	ctx, cancel = context.WithTimeout(ctx, b.timeout)
	defer cancel()
	m := b.mode()
	err = f(ctx, c, m)
	if m != noPrepare && lostPrepared(err) {
		if !b.unprepared.Swap(true) {
			logTo(b.logger, slog.LevelInfo, "postgres: prepared statements do not last on this pool's connections (a pooler in transaction mode?): sending statements unprepared", nil)
		}
		err = f(ctx, c, noPrepare)
	}
	return wrap(err)
}

// logTo logs msg, with err if not nil, to logger if not nil (the Lock's
// Options.Logger).
func logTo(logger *slog.Logger, level slog.Level, msg string, err error) {
	switch {
	case logger == nil:
	case err != nil:
		logger.Log(context.Background(), level, msg, "err", err)
	default:
		logger.Log(context.Background(), level, msg)
	}
}

func (b *backend) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, _, err := b.AcquireFenced(ctx, key, token, ttl)
	return ok, err
}

// AcquireFenced implements driver.Fencer: one statement inserts the row,
// or takes over an expired one, and returns its fence.
func (b *backend) AcquireFenced(ctx context.Context, key, token string, ttl time.Duration) (bool, uint64, error) {
	var fence int64
	err := b.call(ctx, func(ctx context.Context, c *pgxpool.Conn, mode pgx.QueryExecMode) error {
		return c.QueryRow(ctx, b.sql.acquire, mode, b.stored(key), []byte(token), micros(ttl)).Scan(&fence)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, 0, nil
	}
	return err == nil, uint64(fence), err
}

// AcquireFencedOrTTL implements driver.FencedTTLReporter: AcquireFenced,
// that also marks a live holder's row so that its release wakes the wait,
// and tells how long that lock has left.
func (b *backend) AcquireFencedOrTTL(ctx context.Context, key, token string, ttl time.Duration) (bool, uint64, time.Duration, error) {
	var fence, left *int64
	err := b.call(ctx, func(ctx context.Context, c *pgxpool.Conn, mode pgx.QueryExecMode) error {
		return c.QueryRow(ctx, b.sql.acquireInWait, mode, b.stored(key), []byte(token), micros(ttl)).Scan(&fence, &left)
	})
	switch {
	case err != nil:
		return false, 0, 0, err
	case fence != nil:
		return true, uint64(*fence), 0, nil
	case left != nil && *left > 0:
		return false, 0, time.Duration(*left) * time.Microsecond, nil
	}
	return false, 0, 0, nil
}

func (b *backend) Release(ctx context.Context, key, token string) (bool, error) {
	k := b.stored(key)
	var live bool
	err := b.call(ctx, func(ctx context.Context, c *pgxpool.Conn, mode pgx.QueryExecMode) error {
		return c.QueryRow(ctx, b.sql.release, mode, k, []byte(token), b.sql.channel, payload(k)).Scan(&live, nil)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return live, err
}

func (b *backend) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	var tag pgconn.CommandTag
	err := b.callOn(b.extends, ctx, func(ctx context.Context, c *pgxpool.Conn, mode pgx.QueryExecMode) (err error) {
		tag, err = c.Exec(ctx, b.sql.extend, mode, b.stored(key), []byte(token), micros(ttl))
		return err
	})
	return err == nil && tag.RowsAffected() == 1, err
}

// ExtendBatch implements driver.BatchExtender: one statement over arrays
// of the batch's keys, tokens and ttls.
func (b *backend) ExtendBatch(ctx context.Context, batch []driver.Extension) {
	keys := make([][]byte, len(batch))
	tokens := make([][]byte, len(batch))
	ttls := make([]int64, len(batch))
	for i, x := range batch {
		keys[i], tokens[i], ttls[i] = b.stored(x.Key), []byte(x.Token), micros(x.TTL)
	}
	err := b.callOn(b.extends, ctx, func(ctx context.Context, c *pgxpool.Conn, mode pgx.QueryExecMode) error {
		for i := range batch {
			batch[i].OK = false
		}
		rows, err := c.Query(ctx, b.sql.extendBatch, mode, keys, tokens, ttls)
		if err != nil {
			return err
		}
		var i int64
		_, err = pgx.ForEachRow(rows, []any{&i}, func() error {
			if 1 <= i && i <= int64(len(batch)) {
				batch[i-1].OK = true
			}
			return nil
		})
		return err
	})
	if err != nil {
		for i := range batch {
			batch[i].OK, batch[i].Err = false, err
		}
	}
}

// Watch implements driver.Watcher: a release's NOTIFY wakes the waits on
// its key. With NoListen, or when notifications do not arrive, the
// channel is never closed, and waits look again when the holder's lock
// expires (see AcquireFencedOrTTL), or once a second.
func (b *backend) Watch(key string) <-chan struct{} {
	if b.watcher == nil {
		return nil
	}
	return b.watcher.watch(payload(b.stored(key)))
}

// Scope implements driver.Scoper: the Locks of a process over one
// database, table and prefix share their waits.
func (b *backend) Scope() string { return b.scope }

func (b *backend) Close() error {
	close(b.stop)
	b.sweeping.Wait()
	if b.watcher != nil {
		b.watcher.close()
	}
	b.extends.Close()
	if b.owned {
		b.pool.Close()
	}
	return nil
}

// extendConns is the size of the Lock's pool for extends.
const extendConns = 2

// newExtendPool returns a pool of its own for the extends (the
// keep-alives) of a Lock over pool: a burst of calls queued for pool's
// connections cannot then hold a lease's extend past its deadline. It has
// pool's settings, at most extendConns connections, and connects when
// first used.
func newExtendPool(pool *pgxpool.Pool) (*pgxpool.Pool, error) {
	cfg := pool.Config()
	cfg.MaxConns, cfg.MinConns, cfg.MinIdleConns = extendConns, 0, 0
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// sweep deletes the rows of expired locks every SweepInterval (jittered),
// until Close: a key used once (invoice:<id>) leaves no row behind. The
// fences come from a sequence, not the rows, so they keep growing.
func (b *backend) sweep() {
	defer b.sweeping.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // Close ends a sweep in flight too
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTimer(jitter(SweepInterval))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		for {
			n, err := b.sweepOnce(ctx)
			if err != nil || n < sweepBatch || ctx.Err() != nil {
				break
			}
		}
		t.Reset(jitter(SweepInterval))
	}
}

// sweepOnce deletes up to sweepBatch rows of expired locks, and returns
// how many it deleted.
func (b *backend) sweepOnce(ctx context.Context) (int64, error) {
	var tag pgconn.CommandTag
	err := b.call(ctx, func(ctx context.Context, c *pgxpool.Conn, mode pgx.QueryExecMode) (err error) {
		tag, err = c.Exec(ctx, b.sql.sweep, mode, int64(sweepBatch))
		return err
	})
	return tag.RowsAffected(), err
}

// sweepBatch is the most rows one statement of a sweep deletes.
const sweepBatch = 1000

// wrap is the error of a statement that failed: an answer of the server
// (a missing table, a permission refused) as it is, anything else (a
// connection lost or refused, a timeout, a server shutting down or in
// recovery, a deadlock or a pool closed), whose outcome is unknown or
// worth another try, wrapping lock.ErrUnavailable (see kind).
func wrap(err error) error {
	if err == nil || errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return fmt.Errorf("postgres: %w (create it as the package doc shows, or leave it to the Lock: drop create_table=false, or Options.NoCreate)", err)
	}
	return fmt.Errorf("postgres: %w", kind(err))
}

// kind returns err, wrapping lock.ErrUnavailable unless it is an answer
// of the server that another try would meet again.
func kind(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !transient(pe.Code) {
		return err
	}
	return fmt.Errorf("%w: %w", lock.ErrUnavailable, err)
}

// transient reports whether an error of SQLSTATE code is a failure that
// another try may not meet: a connection exception (08), a transaction
// rolled back (40: a deadlock, a serialization failure), a lack of
// resources (53: too many connections, disk full), an operator's
// intervention (57: a shutdown, a restart, a cancelled statement), a
// system error (58), a lock not available (55P03) or a read-only
// transaction (25006: a standby, as after a failover).
func transient(code string) bool {
	switch {
	case code == "55P03", code == "25006":
		return true
	case len(code) != 5:
		return false
	}
	switch code[:2] {
	case "08", "40", "53", "57", "58":
		return true
	}
	return false
}

// table is a table's name, parsed and quoted.
type table struct {
	name   string // as written: schema.name or name
	quoted string // for SQL
}

func parseTable(opts *Options) (table, error) {
	name := DefaultTable
	if opts != nil && opts.Table != "" {
		name = opts.Table
	}
	parts := strings.Split(name, ".")
	if len(parts) > 2 || strings.Contains(name, "\x00") {
		return table{}, fmt.Errorf("table %q: want name or schema.name", name)
	}
	for _, p := range parts {
		if p == "" {
			return table{}, fmt.Errorf("table %q: want name or schema.name", name)
		}
		if len(p) > 63 {
			return table{}, fmt.Errorf("table %q: a name is at most 63 bytes", name)
		}
	}
	return table{name: name, quoted: pgx.Identifier(parts).Sanitize()}, nil
}
