package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
	"github.com/distlock/lock/urlparam"
)

func init() {
	lock.Register(Scheme, openURL)
	lock.Register(SchemeLong, openURL)
	lock.RegisterPort(Scheme, "5432")
	lock.RegisterPort(SchemeLong, "5432")
}

// pgxParams are the parameters that pgx reads from a URL (libpq's that it
// knows, its own, and its pool's), passed on to it as they are.
var pgxParams = []string{
	// libpq's
	"host", "port", "dbname", "database", "user", "password", "passfile",
	"connect_timeout", "sslmode", "sslkey", "sslcert", "sslcertmode",
	"sslrootcert", "sslnegotiation", "sslpassword", "sslsni", "krbspn",
	"krbsrvname", "target_session_attrs", "service", "servicefile",
	"min_protocol_version", "max_protocol_version", "channel_binding",
	"require_auth",
	// settings of the session that libpq's users set by URL
	"application_name", "options", "search_path",
	// pgx's
	"statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode",
	// pgxpool's
	"pool_max_conns", "pool_min_conns", "pool_min_idle_conns", "pool_max_conn_lifetime",
	"pool_max_conn_lifetime_jitter", "pool_max_conn_idle_time", "pool_health_check_period",
	"pool_ping_timeout",
}

// urlConfig is what a URL configures.
type urlConfig struct {
	opts Options
	pool *pgxpool.Config
}

// parseURL reads u: this package's parameters into Options, pgx's into a
// pool's config. The password never reaches pgx's parser, whose errors
// quote the URL.
func parseURL(u *url.URL) (*urlConfig, error) {
	all, err := urlparam.Values(u)
	if err != nil {
		return nil, err
	}
	c := &urlConfig{}
	q := urlparam.New(all)
	q.Common(&c.opts.Prefix, &c.opts.Options)
	q.NonEmpty("table", &c.opts.Table)
	create, listen := true, true
	q.Bool("create_table", &create)
	q.Bool("listen", &listen)
	c.opts.NoCreate, c.opts.NoListen = !create, !listen
	q.Duration("timeout", &c.opts.Timeout)
	passed := url.Values{}
	var errs []error
	for _, name := range pgxParams {
		var vs []string
		q.Strings(name, &vs)
		switch {
		case len(vs) > 1:
			// libpq keeps the last, pgx the first: neither is safe to guess.
			errs = append(errs, fmt.Errorf("parameter %s given %d times", name, len(vs)))
		case len(vs) == 1:
			passed[name] = vs
		}
	}
	if err := errors.Join(append(errs, q.Err())...); err != nil {
		return nil, err
	}
	if _, err := parseTable(&c.opts); err != nil {
		return nil, err
	}
	password, hasPassword := u.User.Password()
	if p := passed.Get("password"); p != "" {
		password, hasPassword = p, true
		passed.Del("password")
	}
	bare := *u
	if u.User != nil {
		bare.User = url.User(u.User.Username())
	}
	bare.RawQuery = passed.Encode()
	cfg, err := pgxpool.ParseConfig(bare.String())
	if err != nil {
		return nil, err
	}
	if hasPassword {
		cfg.ConnConfig.Password = password
	}
	if !passed.Has("connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = c.opts.timeout()
	}
	c.pool = cfg
	return c, nil
}

// openURL opens a postgres:// or postgresql:// URL; see the package doc,
// # URLs. The pool it makes belongs to the Lock, whose Close closes it.
func openURL(ctx context.Context, u *url.URL) (lock.Lock, error) {
	c, err := parseURL(u)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", urlparam.Invalid(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, c.pool)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", urlparam.Invalid(err))
	}
	pctx, cancel := context.WithTimeout(ctx, c.pool.ConnConfig.ConnectTimeout+c.opts.timeout())
	err = pool.Ping(pctx)
	cancel()
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", kind(err))
	}
	b, err := newBackend(ctx, pool, &c.opts, true)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return lock.New(b, c.opts.lockOptions()), nil
}
