package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The table and the statements over it. Every time is the database's
// (now(): the start of the statement, which is after the start of the
// call), never a client's. See the package doc, # Table, for the DDL.

// ddl creates table t if it is missing. The fence column's sequence
// (bigserial) hands out every acquisition's fence: it is never reset when
// rows go, so fences keep growing across releases, expiries and sweeps.
const ddl = `CREATE TABLE IF NOT EXISTS %[1]s (
	key     bytea PRIMARY KEY,
	token   bytea NOT NULL,
	fence   bigserial NOT NULL,
	expires timestamptz NOT NULL,
	waited  boolean NOT NULL DEFAULT false
) WITH (fillfactor = 80)`

// sqlText is the statements of one table.
type sqlText struct {
	acquire, acquireInWait, release, extend, extendBatch, sweep string
	channel                                                     string // of NOTIFY and LISTEN
}

func statements(t table) sqlText {
	sum := sha256.Sum256([]byte(t.quoted))
	s := sqlText{channel: "distlock_" + hex.EncodeToString(sum[:8])}
	// acquire: $1 key, $2 token, $3 ttl in µs. It inserts the row, or
	// takes over one that expired (with a new fence), or finds its own
	// token (a resend of an attempt that landed: the same fence), and
	// returns the fence, or no row.
	const upsert = `INSERT INTO T AS l (key, token, expires) VALUES ($1, $2, now() + $3 * interval '1 microsecond')
	ON CONFLICT (key) DO UPDATE SET
		fence = CASE WHEN l.token = excluded.token AND l.expires > now() THEN l.fence ELSE excluded.fence END,
		token = excluded.token, expires = excluded.expires
	WHERE l.expires <= now() OR l.token = excluded.token
	RETURNING fence`
	s.acquire = upsert
	// acquireInWait: acquire, for an attempt of a wait: when another
	// owner holds the key, it marks the holder's row waited, so that its
	// release sends NOTIFY, and returns NULL and the µs that lock has
	// left. A release that comes first leaves nothing to mark: both are
	// NULL, and the wait looks again soon.
	s.acquireInWait = `WITH got AS (` + upsert + `),
held AS (UPDATE T SET waited = true WHERE key = $1 AND expires > now() AND NOT EXISTS (SELECT FROM got)
	RETURNING ceil(extract(epoch FROM expires - now()) * 1000000)::int8 AS remaining)
SELECT (SELECT fence FROM got), (SELECT remaining FROM held)`
	// release: $1 key, $2 token, $3 channel, $4 payload. It deletes the
	// row if it holds the token, live or expired, sends NOTIFY if a wait
	// marked it (NOTIFY serialises the commits that send it, database-
	// wide: a release no one waits for does without), and returns whether
	// the lock was live.
	s.release = `WITH gone AS (DELETE FROM T WHERE key = $1 AND token = $2 RETURNING expires > now() AS live, waited)
SELECT live, CASE WHEN waited THEN pg_notify($3, $4) END FROM gone`
	// extend: $1 key, $2 token, $3 ttl in µs.
	s.extend = `UPDATE T SET expires = now() + $3 * interval '1 microsecond' WHERE key = $1 AND token = $2 AND expires > now()`
	// extendBatch: $1 keys, $2 tokens, $3 ttls in µs; returns the
	// ordinals (from 1) of the elements extended.
	s.extendBatch = `UPDATE T AS l SET expires = now() + b.us * interval '1 microsecond'
FROM unnest($1::bytea[], $2::bytea[], $3::int8[]) WITH ORDINALITY AS b(key, token, us, i)
WHERE l.key = b.key AND l.token = b.token AND l.expires > now()
RETURNING b.i`
	// sweep: $1 the most rows to delete. Rows locked by an acquire taking
	// them over are skipped.
	s.sweep = `DELETE FROM T WHERE key IN (SELECT key FROM T WHERE expires < now() LIMIT $1 FOR UPDATE SKIP LOCKED) AND expires < now()`
	for _, p := range []*string{&s.acquire, &s.acquireInWait, &s.release, &s.extend, &s.extendBatch, &s.sweep} {
		*p = strings.ReplaceAll(*p, " T ", " "+t.quoted+" ")
	}
	return s
}

// createLockID is the key of the transaction-level advisory lock that
// serialises the creation of tables by processes starting at once (two
// CREATE TABLE IF NOT EXISTS can otherwise both try, and one fail).
const createLockID = 0x646c6f636b // "dlock"

// create creates table t if it does not exist, in one transaction (no
// session state: it works through a pooler in transaction mode).
func (b *backend) create(ctx context.Context, t table) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*b.timeout)
		defer cancel()
	}
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, noPrepare, t.quoted).Scan(&exists); err != nil || exists {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, noPrepare, int64(createLockID)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(ddl, t.quoted), noPrepare)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: creating table %s: %w", t.name, kind(err))
	}
	return nil
}

// jitter returns d, give or take a tenth, so that the sweeps of many
// processes spread out.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}
