// Package postgres keeps locks in a table of a PostgreSQL database (tested
// on 15), over a pgx v5 pool: durable locks, with a fencing token the
// database keeps, on the database most services already run.
//
// [New] takes a *pgxpool.Pool the program already has; by URL, after
// importing this package:
//
//	l, err := lock.Open(ctx, "postgres://app:secret@db:5432/app?table=locks")
//
// # What it guarantees
//
// A lock is a row, written by a committed statement: it survives a crash
// or restart of the server, and a crash of its holder (it then expires at
// its ttl). Every time is the database's: a lock expires at the start of
// the statement that took or extended it plus its ttl, in whole
// microseconds, on the primary's clock (now()), never a client's. Clients
// whose clocks disagree do not matter; a primary whose clock steps does.
//
// Every acquisition gets a fencing token (lock.Lease.Fence) from the
// table's sequence: it grows across keys, releases, expiries, sweeps and
// restarts of the server, as long as the sequence lives (dropping the
// table, or TRUNCATE ... RESTART IDENTITY, resets it).
//
// A lock is as safe as the commit that wrote it. On a failover to an
// asynchronous replica, the locks (and fences) of the last commits the
// replica had not received are lost: a lock reported held may be free on
// the new primary, and a fence may be handed out twice. With synchronous
// replication (synchronous_commit on, synchronous_standby_names set) a
// lock is acknowledged only once a standby has it. A standby refuses
// writes: a Lock pointed at one (as after a failover, before its clients
// follow) fails in transit, and keeps trying.
//
// # Round trips
//
// Each call is one statement, one round trip: an acquire inserts the row
// or takes over an expired one and returns the fence (INSERT ... ON
// CONFLICT DO UPDATE ... WHERE expired); a release deletes the row if it
// holds the token; an extend updates its expiry if it holds the token; the
// keep-alives of many leases that fall due together are one UPDATE over
// arrays. No statement is sent twice: a statement whose reply is lost is
// left to the Lock (see lock.ErrUnavailable).
//
// # Waking waits
//
// A wait's attempt that finds the key held marks the holder's row, and
// learns when that lock expires. The release of a marked row sends NOTIFY
// (an unmarked one does not: NOTIFY makes the commits that send it wait
// for one another, database-wide), and the Lock LISTENs on a connection
// of its own, outside the pool: a release wakes the waits of every
// process at once. A wait otherwise sleeps until the holder's lock expires,
// looking again once a second (or each retry interval, if longer) in case
// a wake-up was lost: a waiter sends at most one statement a second while
// a live holder holds. With Options.NoListen (URL listen=false), or when
// notifications do not arrive, waits rely on that alone, and a release
// reaches them within about a second.
//
// # PgBouncer and other poolers
//
// The statements carry no session state: no session advisory lock, no
// SET, no temporary table. They are sent as the pool sends its own
// (pgx prepares each once per connection, by default), and once a
// pooler in transaction mode shows that prepared statements do not last
// (an error that one is missing, or exists already, on the server
// connection: the statement did not run) the Lock sends every statement
// unprepared from then on, and logs it at Info. The plain URL therefore
// works through PgBouncer 1.18 in transaction mode. LISTEN cannot work
// there: the Lock checks, when its listening connection starts, that a
// NOTIFY it sends through the pool reaches it, and when it does not
// within two seconds, logs it at Warn and stops listening: waits look
// again once a second (above). To keep wake-ups behind such a pooler, run
// the Lock's pool through a session-mode pool or to the server itself.
//
// # Table
//
// New (and Open) create the table if it is missing, in a transaction
// under an advisory lock of that transaction, so that processes starting
// at once do not collide; Options.NoCreate (URL create_table=false)
// leaves that to the schema's migrations, with this DDL:
//
//	CREATE TABLE distlock (
//		key     bytea PRIMARY KEY,
//		token   bytea NOT NULL,
//		fence   bigserial NOT NULL,
//		expires timestamptz NOT NULL,
//		waited  boolean NOT NULL DEFAULT false
//	) WITH (fillfactor = 80);
//
// The Lock needs SELECT, INSERT, UPDATE and DELETE on it, and USAGE on
// the sequence of fence (named <table>_fence_seq), and, to create the
// table, CREATE on its schema (which PostgreSQL 15 no longer grants on
// public to every user):
//
//	GRANT SELECT, INSERT, UPDATE, DELETE ON distlock TO app;
//	GRANT USAGE ON SEQUENCE distlock_fence_seq TO app;
//
// A key is stored as its bytes (prefix included)
// when they fit in 256 bytes, else as a byte 0xff and their SHA-256 (so
// are keys that begin with 0xff): any string is a key, NUL bytes and
// megabytes included, and two keys never share a row. Keys and tokens
// travel as parameters, never as SQL text.
//
// Released rows are deleted. The rows of locks that expired are taken
// over by the next acquire of their key, and each Lock deletes those
// left (keys used once, as invoice:<id>) every SweepInterval, a thousand
// per statement, skipping rows another statement has locked: the table
// holds about the live locks, plus a minute of expired ones.
//
// # URLs
//
//	postgres://[user[:password]@]host[:port][/database][?parameters]
//	postgresql://...
//
// The URL is pgx's (libpq's form); several hosts, a socket directory as
// host, and the libpq parameters pgx knows (sslmode, sslrootcert,
// connect_timeout, target_session_attrs, application_name, options,
// search_path...) and pgx's own (pool_max_conns, pool_max_conn_lifetime,
// default_query_exec_mode...) are passed on to it. Other settings of the
// session (statement_timeout, TimeZone) are unknown parameters here: set
// them with options=-c name=value. This package's own:
//
//	table           the table: name or schema.name (default distlock)
//	create_table    create the table if missing (default true)
//	listen          LISTEN for releases (default true)
//	timeout         bound of each statement (see # Timeouts) and of each
//	                connect unless connect_timeout is given (default 1s)
//	prefix          prepended to every key (default none)
//	retry_interval  the longest pause between attempts of a wait (default
//	                100ms); retry_timeout is the same setting
//	max_ttl         the longest ttl accepted (default lock.DefaultMaxTTL)
//	close_timeout   how long Close spends releasing (default 2s)
//
// Durations carry a unit (500ms, 2s). Unknown or repeated parameters are
// an error that lists the valid ones; errors never show the password.
// Open connects and pings within the connect timeout plus the timeout: an
// unreachable server fails Open with an error that matches
// lock.ErrUnavailable.
//
// # Timeouts
//
// Every statement runs under Options.Timeout (the URL's timeout), or the
// call's ctx if it ends sooner, when pgx abandons it; a statement that
// timed out may have run (its outcome is unknown), and the Lock treats it
// so. A call first waits for a connection of the pool, for at most ten
// such timeouts: a burst of calls larger than the pool queues for its
// connections instead of failing. A call on a server that does not answer
// returns within the timeout when a connection is free, and within eleven
// when the pool's connections are all stuck on that server.
//
// # Caveats
//
// A row deleted behind its holder's back (by hand) ends the lease at its
// next extend, within a third of its ttl when kept alive: the backend is
// not told of deletes, as etcd's is. Close releases what the Lock holds
// through the pool: close the Lock before the pool. The LISTEN connection
// is made from the pool's settings without its hooks (BeforeConnect,
// AfterConnect): a pool that needs them to connect (a token refreshed by
// a hook) gets no wake-ups, and waits look again once a second.
package postgres
