package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/testnet"
	"github.com/distlock/lock/postgres"
)

// urlPassword is the password of the URLs below; no error may contain it.
const urlPassword = "pa55-w0rd-s3cret"

// urlForms returns the URLs of the tests without a server for addr and
// query: both schemes, with the password in the userinfo and in a
// password= parameter.
func urlForms(addr, query string) []string {
	sep := "?"
	if query != "" {
		sep = "?" + query + "&"
	}
	return []string{
		"postgres://u:" + urlPassword + "@" + addr + "/db?" + query,
		"postgresql://u:" + urlPassword + "@" + addr + "/db?" + query,
		"postgres://u@" + addr + "/db" + sep + "password=" + urlPassword,
		"postgresql://u@" + addr + "/db?password=" + urlPassword + "&" + query,
	}
}

// openErr opens raw, which must fail, and returns the error and how long
// Open took.
func openErr(t *testing.T, raw string) (error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	l, err := lock.Open(ctx, raw)
	took := time.Since(start)
	if err == nil {
		l.Close()
		t.Fatalf("lock.Open(%s) = nil error; want a failure", raw)
	}
	if strings.Contains(err.Error(), urlPassword) {
		t.Errorf("lock.Open(%s) error shows the password: %v", raw, err)
	}
	return err, took
}

// TestOpenInvalidURL checks that bad parameters fail Open before any
// I/O, with an error that matches lock.ErrInvalidURL, says what is wrong,
// and never contains the password, whichever scheme and wherever the
// password is.
func TestOpenInvalidURL(t *testing.T) {
	long := strings.Repeat("a", 64)
	addr := testnet.ClosedAddr(t) // were a URL taken, Open would fail fast, unavailable
	for _, tc := range []struct{ query, want string }{
		{"nonsense=1", "unknown parameter nonsense (valid: "},
		{"pool_size=4&nonsense=1", "unknown parameters nonsense, pool_size (valid: "},
		{"timeout=500", "parameter timeout=500 has no unit: write 500ms or 0.5s"},
		{"timeout=0s", "timeout=0s is zero"},
		{"max_ttl=-1s", "max_ttl=-1s is negative"},
		{"retry_interval=soon", "retry_interval=soon is not a duration"},
		{"retry_interval=1s&retry_timeout=1s", "are one setting"},
		{"listen=maybe", `parameter listen="maybe": want true or false`},
		{"create_table=maybe", `parameter create_table="maybe": want true or false`},
		{"table=", "parameter table is empty"},
		{"prefix=", "parameter prefix is empty"},
		{"table=a.b.c", `table "a.b.c": want name or schema.name`},
		{"table=.locks", `table ".locks": want name or schema.name`},
		{"table=public.", `table "public.": want name or schema.name`},
		{"table=" + long, `table "` + long + `": a name is at most 63 bytes`},
		{"table=" + long + ".locks", "a name is at most 63 bytes"},
		{"table=public." + long, "a name is at most 63 bytes"},
		{"table=a&table=b", "parameter table given 2 times"},
		{"prefix=a&prefix=b", "parameter prefix given 2 times"},
		{"timeout=1s&timeout=2s", "parameter timeout given 2 times"},
		{"pool_max_conns=abc", "cannot parse pool_max_conns"},
		{"sslmode=disable&sslmode=require", "parameter sslmode given 2 times"},
		{"pool_max_conns=0", "pool_max_conns too small"},
		{"connect_timeout=abc", "invalid connect_timeout"},
		{"sslmode=bogus", "sslmode is invalid"},
		{"port=abc", "invalid port"},
		{"default_query_exec_mode=x", "invalid default_query_exec_mode"},
		{"prefix=a%zz", "malformed query: a malformed %-escape in the value of prefix"},
		{"prefix=app;v2", "malformed query: a ';'"},
	} {
		for _, raw := range urlForms(addr, tc.query) {
			err, took := openErr(t, raw)
			if !errors.Is(err, lock.ErrInvalidURL) {
				t.Errorf("lock.Open(%s) = %v; want an error matching ErrInvalidURL", raw, err)
			}
			if errors.Is(err, lock.ErrUnavailable) {
				t.Errorf("lock.Open(%s) = %v; matches ErrUnavailable, but the URL is bad", raw, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("lock.Open(%s) = %v; want an error containing %q", raw, err, tc.want)
			}
			if took > time.Second {
				t.Errorf("lock.Open(%s) took %v; a bad parameter needs no I/O", raw, took)
			}
		}
	}
}

// TestOpenUnknownParameterListsValid checks that the error of an unknown
// parameter lists this package's parameters, the ones every backend
// shares, and pgx's, which pass through.
func TestOpenUnknownParameterListsValid(t *testing.T) {
	err, _ := openErr(t, "postgres://u:"+urlPassword+"@"+testnet.ClosedAddr(t)+"/db?tabel=locks")
	msg := err.Error()
	_, valid, ok := strings.Cut(msg, "unknown parameter tabel (valid: ")
	if !ok {
		t.Fatalf("lock.Open(?tabel=locks) = %v; want it to name tabel and list the valid parameters", err)
	}
	valid, _, _ = strings.Cut(valid, ")")
	names := make(map[string]bool)
	for name := range strings.SplitSeq(valid, ", ") {
		names[name] = true
	}
	for _, name := range []string{
		"table", "create_table", "listen", "timeout", // this package's
		"prefix", "retry_interval", "retry_timeout", "max_ttl", "close_timeout", // every backend's
		"sslmode", "connect_timeout", "application_name", "password", "pool_max_conns", // pgx's
	} {
		if !names[name] {
			t.Errorf("valid parameters %q lack %s", valid, name)
		}
	}
	if names["tabel"] {
		t.Errorf("valid parameters %q list the unknown tabel", valid)
	}
}

// TestOpenUnreachable checks that valid URLs to a port where nothing
// listens fail Open at once, as unavailable rather than invalid, without
// the password: the parameters parsed, and the failure is the server's.
func TestOpenUnreachable(t *testing.T) {
	addr := testnet.ClosedAddr(t)
	for _, query := range []string{
		"",
		"table=" + strings.Repeat("a", 63),
		"table=" + strings.Repeat("s", 63) + "." + strings.Repeat("t", 63),
		"table=Locks.DistLock&prefix=app:&create_table=false&listen=false&timeout=250ms",
		"retry_interval=10ms&max_ttl=1h&close_timeout=2s",
		"sslmode=disable&connect_timeout=1&pool_max_conns=4&application_name=app&search_path=locks",
	} {
		for _, raw := range urlForms(addr, query) {
			err, took := openErr(t, raw)
			if !errors.Is(err, lock.ErrUnavailable) {
				t.Errorf("lock.Open(%s) = %v; want an error matching ErrUnavailable", raw, err)
			}
			if errors.Is(err, lock.ErrInvalidURL) {
				t.Errorf("lock.Open(%s) = %v; matches ErrInvalidURL, but the URL is fine", raw, err)
			}
			if !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("lock.Open(%s) = %v; want it to say the connection was refused", raw, err)
			}
			if took > 3*time.Second {
				t.Errorf("lock.Open(%s) took %v; want a refused connection to fail at once", raw, took)
			}
		}
	}
}

// TestOpenSilentServer checks that Open on a server that accepts the
// connection and never answers fails within the URL's timeout, which
// bounds the connection when connect_timeout is not given, as
// unavailable.
func TestOpenSilentServer(t *testing.T) {
	addr := testnet.Silent(t)
	for _, raw := range urlForms(addr, "timeout=100ms") {
		err, took := openErr(t, raw)
		if !errors.Is(err, lock.ErrUnavailable) || errors.Is(err, lock.ErrInvalidURL) {
			t.Errorf("lock.Open(%s) = %v; want an error matching ErrUnavailable, not ErrInvalidURL", raw, err)
		}
		// The connect timeout, with slack for a loaded machine; below
		// DefaultTimeout, which an ignored timeout= would wait.
		if bound := 100*time.Millisecond + 700*time.Millisecond; took > bound {
			t.Errorf("lock.Open(%s) took %v; want at most %v", raw, took, bound)
		}
	}
	// connect_timeout, pgx's, in whole seconds, bounds the connection
	// instead.
	raw := "postgres://u:" + urlPassword + "@" + addr + "/db?timeout=100ms&connect_timeout=1"
	if _, took := openErr(t, raw); took < 900*time.Millisecond {
		t.Errorf("lock.Open(%s) took %v; want connect_timeout=1 to wait about a second", raw, took)
	}
}

// withScheme returns raw with its scheme replaced, and its query extended
// by query.
func withScheme(t *testing.T, raw, scheme, query string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("LOCK_TEST_POSTGRES_URL does not parse: %v", err)
	}
	u.Scheme = scheme
	if query != "" {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += query
	}
	return u.String()
}

// mustOpen opens raw, closing the Lock when the test ends.
func mustOpen(t *testing.T, raw string) lock.Lock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := lock.Open(ctx, raw)
	if err != nil {
		t.Fatalf("lock.Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// urlTestName returns a table name of its own for a test.
func urlTestName() string {
	return "distlock_urltest_" + strings.ToLower(rand.Text()[:12])
}

// dropTable drops the table quoted when the test ends (after the Locks the
// test opens later are closed).
func dropTable(t *testing.T, pool *pgxpool.Pool, quoted string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+quoted, pgx.QueryExecModeExec); err != nil {
			t.Errorf("dropping %s: %v", quoted, err)
		}
	})
}

// TestOpenSchemes checks that postgres:// and postgresql:// both open, on
// the same locks: each Lock excludes the other.
func TestOpenSchemes(t *testing.T) {
	raw := realURL(t)
	ctx := context.Background()
	a := mustOpen(t, withScheme(t, raw, postgres.Scheme, ""))
	b := mustOpen(t, withScheme(t, raw, postgres.SchemeLong, ""))
	key := "urltest:schemes:" + rand.Text()

	lease, err := a.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatalf("postgres:// TryAcquire = %v", err)
	}
	if fence, ok := lease.Fence(); !ok || fence == 0 {
		t.Errorf("postgres:// lease fence = %d, %v; want a fence", fence, ok)
	}
	if _, err := b.TryAcquire(ctx, key, time.Minute); !errors.Is(err, lock.ErrNotAcquired) {
		t.Errorf("postgresql:// TryAcquire while postgres:// holds the key = %v; want ErrNotAcquired", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("postgres:// Release = %v", err)
	}
	lease, err = b.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatalf("postgresql:// TryAcquire after the release = %v", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Errorf("postgresql:// Release = %v", err)
	}
}

// TestOpenTableAndPrefix checks that table= (name and schema.name, case
// kept) and prefix= decide where a lock's row goes and what its key is.
func TestOpenTableAndPrefix(t *testing.T) {
	raw := realURL(t)
	pool := realPool(t)
	ctx := context.Background()
	name := urlTestName()
	for _, tc := range []struct {
		table string
		ident pgx.Identifier
	}{
		{name, pgx.Identifier{name}},
		{"public." + name + "_Mixed", pgx.Identifier{"public", name + "_Mixed"}},
	} {
		quoted := tc.ident.Sanitize()
		dropTable(t, pool, quoted)
		l := mustOpen(t, withScheme(t, raw, postgres.Scheme, "prefix=app:&table="+url.QueryEscape(tc.table)))

		lease, err := l.TryAcquire(ctx, "job", time.Minute)
		if err != nil {
			t.Fatalf("table=%s: TryAcquire = %v", tc.table, err)
		}
		rows, err := pool.Query(ctx, "SELECT key, fence FROM "+quoted, pgx.QueryExecModeExec)
		if err != nil {
			t.Fatalf("table=%s: reading %s: %v", tc.table, quoted, err)
		}
		type row struct {
			Key   []byte
			Fence int64
		}
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		if err != nil {
			t.Fatalf("table=%s: reading %s: %v", tc.table, quoted, err)
		}
		fence, _ := lease.Fence()
		if want := postgres.Stored("app:", "job"); len(got) != 1 || string(got[0].Key) != string(want) || uint64(got[0].Fence) != fence {
			var shown []string
			for _, r := range got {
				shown = append(shown, fmt.Sprintf("key %q fence %d", r.Key, r.Fence))
			}
			t.Errorf("table=%s: rows of %s = %v; want one, key %q fence %d", tc.table, quoted, shown, want, fence)
		}

		if err := lease.Release(ctx); err != nil {
			t.Fatalf("table=%s: Release = %v", tc.table, err)
		}
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+quoted, pgx.QueryExecModeExec).Scan(&n); err != nil {
			t.Fatalf("table=%s: counting the rows of %s: %v", tc.table, quoted, err)
		}
		if n != 0 {
			t.Errorf("table=%s: %d rows in %s after the release; want none", tc.table, n, quoted)
		}
	}
}

// TestOpenNoCreate checks that create_table=false opens without the table,
// leaves it missing, and that a call then fails saying so, as an answer
// of the server, not as unavailable.
func TestOpenNoCreate(t *testing.T) {
	raw := realURL(t)
	pool := realPool(t)
	ctx := context.Background()
	name := urlTestName()
	quoted := pgx.Identifier{name}.Sanitize()
	dropTable(t, pool, quoted) // were it made after all
	l := mustOpen(t, withScheme(t, raw, postgres.Scheme, "create_table=false&table="+name))

	exists := func() bool {
		t.Helper()
		var ok bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", pgx.QueryExecModeExec, quoted).Scan(&ok); err != nil {
			t.Fatalf("looking for %s: %v", quoted, err)
		}
		return ok
	}
	if exists() {
		t.Fatalf("create_table=false: Open created %s", quoted)
	}
	_, err := l.TryAcquire(ctx, "job", time.Minute)
	switch {
	case err == nil:
		t.Fatalf("create_table=false: TryAcquire on a missing table succeeded")
	case errors.Is(err, lock.ErrUnavailable), errors.Is(err, lock.ErrNotAcquired):
		t.Errorf("create_table=false: TryAcquire on a missing table = %v; want the server's answer, not unavailable or not acquired", err)
	}
	if msg := err.Error(); !strings.Contains(msg, name) || !strings.Contains(msg, "does not exist") {
		t.Errorf("create_table=false: TryAcquire on a missing table = %v; want an error saying %s does not exist", err, name)
	}
	if exists() {
		t.Errorf("create_table=false: TryAcquire created %s", quoted)
	}
}

// TestOpenPasswordParameter checks that a password given as a password=
// parameter reaches the server: a wrong one fails Open, without showing
// it, and the right one opens.
func TestOpenPasswordParameter(t *testing.T) {
	raw := realURL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("LOCK_TEST_POSTGRES_URL does not parse: %v", err)
	}
	password, ok := u.User.Password()
	if !ok {
		t.Skip("LOCK_TEST_POSTGRES_URL has no password in its userinfo")
	}
	u.User = url.User(u.User.Username())
	q := u.Query()
	q.Set("password", urlPassword)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wrong, err := lock.Open(ctx, u.String())
	if err == nil {
		wrong.Close()
		t.Skip("the server accepts a wrong password (trust authentication): the password cannot be seen to reach it")
	}
	if strings.Contains(err.Error(), urlPassword) {
		t.Errorf("lock.Open with a wrong password shows it: %v", err)
	}
	if errors.Is(err, lock.ErrInvalidURL) {
		t.Errorf("lock.Open with a wrong password = %v; matches ErrInvalidURL, but the URL is fine", err)
	}

	q.Set("password", password)
	u.RawQuery = q.Encode()
	l := mustOpen(t, u.String())
	lease, err := l.TryAcquire(ctx, "urltest:password:"+rand.Text(), time.Minute)
	if err != nil {
		t.Fatalf("TryAcquire on a URL with password= = %v", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Errorf("Release = %v", err)
	}
}
