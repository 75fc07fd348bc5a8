package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/urlparam"
)

// DefaultTimeout is the timeout of the clients that lock.Open makes, when
// the URL gives none: each dial, handshake, write and reply. It keeps every
// call on a server that does not answer under a second (see the package
// doc, # Timeouts). The URL parameter timeout sets it, and dial_timeout,
// read_timeout and write_timeout each of those.
const DefaultTimeout = 300 * time.Millisecond

func init() {
	lock.Register(Scheme, openURL)
	lock.Register(SchemeTLS, openURL)
	lock.RegisterPort(Scheme, "6379")
}

// openURL opens a redis:// or rediss:// URL; see the package doc, # URLs.
// The client it makes belongs to the Lock, whose Close closes it.
func openURL(ctx context.Context, u *url.URL) (lock.Lock, error) {
	cfg, err := parseURL(u)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", urlparam.Invalid(err))
	}
	// A server that cannot be reached is found here, before go-redis's
	// pool would dial it and print its failure through go-redis's global
	// logger, which this package leaves as the program set it.
	if err := cfg.reachable(ctx); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	client, err := cfg.newClient()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", urlparam.Invalid(err))
	}
	if err := ping(ctx, client); err != nil {
		if ctx.Err() != nil {
			// The ping may still be dialling; a failover client's Close
			// waits for it, and Open must return now.
			go client.Close()
		} else {
			_ = client.Close()
		}
		// lock.Open masks the password, should go-redis's error echo it
		// (no error of go-redis is known to: a second line of defence).
		return nil, fmt.Errorf("redis: ping: %w%s", err, tlsHint(u, err))
	}
	return newLock(client, &cfg.opts, true), nil
}

// tlsHint returns a hint for a ping that failed as a redis:// URL to a
// TLS-only server does: the server closes the connection. (A rediss://
// URL to a plain-text server fails its handshake in reachable, which says
// so.)
func tlsHint(u *url.URL, err error) string {
	if !strings.EqualFold(u.Scheme, "rediss") && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		return " (the server closed the connection: if it speaks TLS, use rediss://)"
	}
	return ""
}

// reachable checks that one of the addresses the client starts from (the
// server, the cluster's seed nodes or the sentinels) accepts a connection,
// and its TLS handshake for a rediss:// URL, within the dial timeout and
// ctx.
func (c *urlConfig) reachable(ctx context.Context) error {
	var (
		addrs   []string
		timeout time.Duration
		conf    *tls.Config
	)
	switch {
	case c.cluster != nil:
		addrs, timeout, conf = c.cluster.Addrs, c.cluster.DialTimeout, c.cluster.TLSConfig
	case c.failover != nil:
		// Sentinels speak TLS when the primary does.
		addrs, timeout, conf = c.failover.SentinelAddrs, c.failover.DialTimeout, c.failover.TLSConfig
	default:
		if c.single.Network == "unix" {
			return nil
		}
		addrs, timeout, conf = []string{c.single.Addr}, c.single.DialTimeout, c.single.TLSConfig
	}
	// In parallel, so that Open takes one dial timeout, however many
	// addresses do not answer.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(addrs))
	for _, addr := range addrs {
		go func() { errs <- dialOnce(ctx, addr, timeout, conf) }()
	}
	var err error
	for range addrs {
		if e := <-errs; e == nil {
			return nil // the others end with cancel
		} else if err == nil {
			err = e
		}
	}
	return err
}

// dialOnce connects to addr, with a TLS handshake when conf is not nil,
// within timeout and ctx, and closes the connection.
func dialOnce(ctx context.Context, addr string, timeout time.Duration, conf *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if conf == nil {
		return nil
	}
	conf = conf.Clone()
	if conf.ServerName == "" {
		conf.ServerName, _, _ = net.SplitHostPort(addr)
	}
	if err := tls.Client(conn, conf).HandshakeContext(ctx); err != nil {
		var cert *tls.CertificateVerificationError
		if errors.As(err, &cert) {
			return fmt.Errorf("TLS handshake with %s: %w", addr, err) // TLS, refused
		}
		return fmt.Errorf("TLS handshake with %s: %w (if the server speaks plain text, use redis://)", addr, err)
	}
	return nil
}

// urlConfig is what a URL names: the lock's options and one of the three
// kinds of go-redis client options.
type urlConfig struct {
	opts     Options
	single   *goredis.Options
	cluster  *goredis.ClusterOptions
	failover *goredis.FailoverOptions
}

// newClient makes the client. go-redis panics on some combinations of
// options; that is an error here, as any bad URL is.
func (c *urlConfig) newClient() (client goredis.UniversalClient, err error) {
	defer func() {
		if r := recover(); r != nil {
			client, err = nil, fmt.Errorf("go-redis refused the options: %v", r)
		}
	}()
	switch {
	case c.cluster != nil:
		return goredis.NewClusterClient(c.cluster), nil
	case c.failover != nil:
		return goredis.NewFailoverClient(c.failover), nil
	}
	return goredis.NewClient(c.single), nil
}

// rejected lists parameters refused with a reason: credentials, which would
// appear unredacted wherever the URL is printed, and the pip-services
// MemcachedLock's settings that are named differently here.
var rejected = map[string]string{
	"username":                "give credentials in the URL's userinfo, redis://user:password@host, which error messages redact",
	"password":                "give credentials in the URL's userinfo, redis://user:password@host, which error messages redact",
	"sentinel_username":       "sentinels use the URL's userinfo when sentinel_auth=true",
	"sentinel_password":       "sentinels use the URL's userinfo when sentinel_auth=true",
	"host":                    "name the server in the URL: redis://host:6379",
	"port":                    "name the server in the URL: redis://host:6379",
	"uri":                     "name the server in the URL: redis://host:6379",
	"discovery_key":           "there is no discovery service: name the server in the URL",
	"retries":                 "use go-redis's max_retries",
	"context_timeout_enabled": "always on: a ctx deadline ends a command in flight",
}

// notWithSentinel lists the go-redis parameters that a failover client
// cannot take: go-redis panics on the first two, and the others send
// commands to replicas, where a lock cannot be taken.
var notWithSentinel = []string{"route_randomly", "route_by_latency", "replica_only", "use_disconnected_replicas"}

// goRedisParams are the parameters go-redis's ParseURL, ParseClusterURL
// and ParseFailoverURL read, each with the reader that checks its value
// (so that a bad one gets this package's error, not a go-redis panic or a
// runtime message, and a duration must carry its unit) and returns it in a
// form go-redis reads. Not every topology takes every one; go-redis says
// which it does not.
//
// The names are a copy of go-redis's, because its parsers cannot be asked
// for them, nor trusted with the values: they export no list of the
// parameters (so an unknown one could not be listed with the valid ones,
// only as "unexpected option"), read a bare number as seconds and zero or
// a negative duration as no timeout (a timeout here carries its unit and
// stays positive, so that every call is bounded), take the last of a
// repeated parameter, range-check no integer (pool_size=-1, protocol=4),
// and read username, password and context_timeout_enabled from the query,
// which is refused here (see rejected). What is delegated to them is the
// rest: which topology takes which parameter, the database, addr, TLS and
// the options themselves. TestGoRedisParamsInSync fails when go-redis
// reads a parameter that is not here or in rejected, or no longer reads
// one that is.
var goRedisParams = map[string]func(q *urlparam.Query, name string) []string{
	"dial_timeout": duration, "read_timeout": duration, "write_timeout": duration,
	"pool_timeout": duration, "dialer_retry_timeout": duration, "conn_max_lifetime_jitter": duration,
	"conn_max_idle_time": durationOrOff, "idle_timeout": durationOrOff,
	"conn_max_lifetime": durationOrOff, "max_conn_age": durationOrOff,
	"min_retry_backoff": durationOrOff, "max_retry_backoff": durationOrOff,

	"pool_size": intIn(1, math.MaxInt), "dialer_retries": intIn(1, math.MaxInt), "protocol": intIn(2, 3),
	"max_retries": intIn(-1, math.MaxInt), "max_redirects": intIn(-1, math.MaxInt), // -1 means none
	"min_idle_conns": intIn(0, math.MaxInt), "max_idle_conns": intIn(0, math.MaxInt),
	"max_active_conns": intIn(0, math.MaxInt), "max_concurrent_dials": intIn(0, math.MaxInt),
	"failing_timeout_seconds": intIn(0, math.MaxInt), "db": intIn(0, math.MaxInt),

	"pool_fifo": boolean, "read_only": boolean, "skip_verify": boolean, "unstable_resp3": boolean,
	"disableIdentity": boolean, "route_by_latency": boolean, "route_randomly": boolean,
	"replica_only": boolean, "use_disconnected_replicas": boolean,

	"client_name": text, "master_name": text, "identitySuffix": text,
	"addr": texts,
}

// The readers of goRedisParams.
func duration(q *urlparam.Query, name string) []string {
	var d time.Duration
	q.DurationBareSeconds(name, &d)
	return []string{d.String()}
}

// durationOrOff reads a duration that may be negative: go-redis's "none".
func durationOrOff(q *urlparam.Query, name string) []string {
	var d time.Duration
	q.DurationOrOff(name, &d)
	return []string{d.String()}
}

func intIn(least, most int) func(q *urlparam.Query, name string) []string {
	return func(q *urlparam.Query, name string) []string {
		n := least
		q.IntIn(name, least, most, &n)
		return []string{strconv.Itoa(n)}
	}
}

func boolean(q *urlparam.Query, name string) []string {
	var b bool
	q.Bool(name, &b)
	return []string{strconv.FormatBool(b)}
}

func text(q *urlparam.Query, name string) []string {
	var v string
	q.String(name, &v)
	return []string{v}
}

func texts(q *urlparam.Query, name string) []string {
	var vs []string
	q.Strings(name, &vs)
	return vs
}

// urlParams are what the query of a URL says.
type urlParams struct {
	timeout               time.Duration // the lock's timeout parameter, or DefaultTimeout
	cluster, sentinelAuth bool
	master                string
	goRedis               url.Values // go-redis's parameters, checked, in forms it reads
}

// readParams reads the query of u into c.opts and the result.
func readParams(u *url.URL, c *urlConfig) (*urlParams, error) {
	all, err := urlparam.Values(u)
	if err != nil {
		return nil, err
	}
	p := &urlParams{goRedis: url.Values{}}
	q := urlparam.New(all)
	q.Common(&c.opts.Prefix, &c.opts.Options)
	q.Bool("fence", &c.opts.Fence)
	q.Int("min_replicas", &c.opts.MinReplicas)
	q.Duration("replica_timeout", &c.opts.ReplicaTimeout)
	q.Duration("timeout", &p.timeout)
	q.Bool("cluster", &p.cluster)
	q.Bool("sentinel_auth", &p.sentinelAuth)
	for _, name := range slices.Sorted(maps.Keys(goRedisParams)) {
		if q.Has(name) {
			p.goRedis[name] = goRedisParams[name](q, name)
		} else {
			q.Known(name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rejected)) { // one order, one message
		q.Reject(name, rejected[name])
	}
	if err := q.Err(); err != nil {
		return nil, err
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	p.master = p.goRedis.Get("master_name")
	return p, nil
}

// checkTopology refuses what cannot be: the checks between the parameters
// and the URL's path that say which kind of deployment it names.
func checkTopology(u *url.URL, p *urlParams) error {
	g, db := p.goRedis, strings.Trim(u.Path, "/")
	if p.master != "" {
		for _, name := range notWithSentinel {
			if g.Has(name) {
				return fmt.Errorf("parameter %s with master_name: locks are taken on the primary", name)
			}
		}
	}
	switch {
	case p.cluster && g.Has("master_name"):
		return errors.New("cluster=true and master_name exclude each other: a redis cluster fails over without sentinels")
	case p.sentinelAuth && p.master == "":
		return errors.New("sentinel_auth needs master_name")
	case g.Has("addr") && !p.cluster && p.master == "":
		return errors.New("addr names more cluster nodes (with cluster=true) or sentinels (with master_name=…); a single server takes none")
	case p.cluster && db != "" && db != "0":
		return fmt.Errorf("database %s: a redis cluster has only database 0", db)
	case db != "" && g.Has("db"):
		return errors.New("database given twice, in the path and as db=: give one")
	}
	return nil
}

// parseURL returns the configuration that u names. It does not modify u,
// and the errors it returns never contain the URL's password: go-redis's
// parser is handed the URL without its userinfo, and the credentials are
// set on the options it returns. Nor do they show the values of parameters
// named like secrets (password= is refused by name, sentinel_auth='s value
// is not quoted; see secret.Name).
func parseURL(u *url.URL) (*urlConfig, error) {
	const form = "want redis[s]://[user[:password]@]host[:port][/db][?parameters]"
	if u.Opaque != "" || u.Fragment != "" {
		return nil, errors.New(form)
	}
	if strings.Contains(u.Host, ",") {
		return nil, errors.New("one host in the URL: name more cluster nodes or sentinels with addr= parameters")
	}
	c := &urlConfig{}
	p, err := readParams(u, c)
	if err != nil {
		return nil, err
	}
	if err := checkTopology(u, p); err != nil {
		return nil, err
	}
	if err := c.build(u, p); err != nil {
		return nil, err
	}
	return c, nil
}

// bounds are the fields of go-redis's three option types that make every
// call bounded (see the package doc, # Timeouts), and the credentials.
type bounds struct {
	user, pass                *string
	dial, read, write         *time.Duration
	dialerRetries, maxRetries *int // maxRetries nil: a cluster client's own
	contextTimeout            *bool
}

// set fills b from u and p: the URL's credentials, p's timeout for the
// go-redis timeouts not given on their own, one dial per attempt, and no
// retries inside go-redis, unless the URL asks for them.
func (b bounds) set(u *url.URL, p *urlParams) {
	*b.user = u.User.Username()
	*b.pass, _ = u.User.Password()
	for name, d := range map[string]*time.Duration{"dial_timeout": b.dial, "read_timeout": b.read, "write_timeout": b.write} {
		if !p.goRedis.Has(name) {
			*d = p.timeout
		}
	}
	if !p.goRedis.Has("dialer_retries") {
		*b.dialerRetries = 1
	}
	if b.maxRetries != nil && !p.goRedis.Has("max_retries") {
		*b.maxRetries = -1
	}
	*b.contextTimeout = true
}

// build makes c's go-redis options for the deployment u and p name.
// go-redis's parser sees the URL without its userinfo, so that none of its
// errors can carry the password.
func (c *urlConfig) build(u *url.URL, p *urlParams) error {
	g := (&url.URL{
		Scheme:   strings.ToLower(u.Scheme),
		Host:     u.Host,
		Path:     u.Path,
		RawPath:  u.RawPath,
		RawQuery: p.goRedis.Encode(),
	}).String()
	var (
		b    bounds
		err  error
		kind string
	)
	switch {
	case p.cluster:
		kind = "a cluster"
		var o *goredis.ClusterOptions
		if o, err = goredis.ParseClusterURL(g); err == nil {
			// A cluster client retries within MaxRedirects, which it also
			// needs to follow slots that move: left as it is.
			b = bounds{&o.Username, &o.Password, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, nil, &o.ContextTimeoutEnabled}
			c.cluster = o
		}
	case p.master != "":
		kind = "sentinels"
		var o *goredis.FailoverOptions
		if o, err = goredis.ParseFailoverURL(g); err == nil {
			b = bounds{&o.Username, &o.Password, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries, &o.ContextTimeoutEnabled}
			c.failover = o
		}
	default:
		kind = "a single server"
		var o *goredis.Options
		if o, err = goredis.ParseURL(g); err == nil {
			b = bounds{&o.Username, &o.Password, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries, &o.ContextTimeoutEnabled}
			c.single = o
		}
	}
	if err != nil {
		return goRedisError(err, kind)
	}
	b.set(u, p)
	if err := checkReplicas(&c.opts, *b.read); err != nil {
		return fmt.Errorf("min_replicas: %w: set replica_timeout below read_timeout", err)
	}
	if c.failover != nil && p.sentinelAuth {
		c.failover.SentinelUsername, c.failover.SentinelPassword = c.failover.Username, c.failover.Password
	}
	return nil
}

// goRedisError drops the "redis: " that go-redis puts before its messages,
// which this package adds itself, and the URL that url.Parse errors repeat;
// it says which parameters kind, the deployment, does not take.
func goRedisError(err error, kind string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := strings.TrimPrefix(err.Error(), "redis: ")
	if names, ok := strings.CutPrefix(msg, "unexpected option: "); ok {
		return fmt.Errorf("parameter %s does not apply to %s", names, kind)
	}
	return errors.New(msg)
}

// ping checks that the store answers before ctx is done. The ping runs
// aside, so that a dial that ignores ctx cannot hold Open past it; the
// caller closes the client, which ends the ping.
func ping(ctx context.Context, client goredis.UniversalClient) error {
	done := make(chan error, 1)
	go func() { done <- client.Ping(ctx).Err() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
