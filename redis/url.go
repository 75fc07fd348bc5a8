package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/urlparam"
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
		pass, _ := u.User.Password()
		return nil, fmt.Errorf("redis: ping: %w%s", redact(err, pass), tlsHint(u, err))
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

// The kinds of go-redis's URL parameters, which parseURL checks itself, so
// that a bad value gets this package's error (not a go-redis panic or a
// runtime message) and a duration must carry its unit.
const (
	kindDuration      = iota
	kindDurationOrOff // a negative duration means none
	kindBool
	kindString
	kindAddrs
	kindInt // kindInt+n: an integer of at least n-1
)

// goRedisParams are the parameters go-redis's ParseURL, ParseClusterURL
// and ParseFailoverURL read, with their kinds. Not every topology takes
// every one; go-redis says which it does not.
var goRedisParams = map[string]int{
	"dial_timeout": kindDuration, "read_timeout": kindDuration, "write_timeout": kindDuration,
	"pool_timeout": kindDuration, "dialer_retry_timeout": kindDuration, "conn_max_lifetime_jitter": kindDuration,
	"conn_max_idle_time": kindDurationOrOff, "idle_timeout": kindDurationOrOff,
	"conn_max_lifetime": kindDurationOrOff, "max_conn_age": kindDurationOrOff,
	"min_retry_backoff": kindDurationOrOff, "max_retry_backoff": kindDurationOrOff,

	"pool_size": kindInt + 2, "dialer_retries": kindInt + 2, "protocol": kindInt + 3,
	"max_retries": kindInt, "max_redirects": kindInt, // -1 means none
	"min_idle_conns": kindInt + 1, "max_idle_conns": kindInt + 1, "max_active_conns": kindInt + 1,
	"max_concurrent_dials": kindInt + 1, "failing_timeout_seconds": kindInt + 1, "db": kindInt + 1,

	"pool_fifo": kindBool, "read_only": kindBool, "skip_verify": kindBool, "unstable_resp3": kindBool,
	"disableIdentity": kindBool, "route_by_latency": kindBool, "route_randomly": kindBool,
	"replica_only": kindBool, "use_disconnected_replicas": kindBool,

	"client_name": kindString, "master_name": kindString, "identitySuffix": kindString,
	"addr": kindAddrs,
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
	q.Duration("timeout", &p.timeout)
	q.Bool("cluster", &p.cluster)
	q.Bool("sentinel_auth", &p.sentinelAuth)
	for _, name := range slices.Sorted(maps.Keys(goRedisParams)) {
		if !q.Has(name) {
			q.Strings(name, new([]string)) // known, and absent
			continue
		}
		switch kind := goRedisParams[name]; {
		case kind == kindDuration:
			var d time.Duration
			q.DurationBareSeconds(name, &d)
			p.goRedis.Set(name, d.String())
		case kind == kindDurationOrOff:
			var d time.Duration
			q.DurationOrOff(name, &d)
			p.goRedis.Set(name, d.String())
		case kind == kindBool:
			var b bool
			q.Bool(name, &b)
			p.goRedis.Set(name, strconv.FormatBool(b))
		case kind == kindString:
			var v string
			q.String(name, &v)
			p.goRedis.Set(name, v)
		case kind == kindAddrs:
			var vs []string
			q.Strings(name, &vs)
			p.goRedis[name] = vs
		default:
			n := kind - kindInt - 1
			q.IntAtLeast(name, n, &n)
			if name == "protocol" && n > 3 {
				return nil, fmt.Errorf("parameter protocol=%d: want 2 or 3", n)
			}
			p.goRedis.Set(name, strconv.Itoa(n))
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

// redact replaces password in err's message, should the error echo it, as
// written or in the forms an error would quote or escape it in. No error of
// go-redis is known to; this is a second line of defence. The result has
// no Unwrap: the original is what it hides.
func redact(err error, password string) error {
	if password == "" {
		return err
	}
	msg := err.Error()
	quoted := strconv.Quote(password)
	for _, form := range []string{password, quoted[1 : len(quoted)-1], url.QueryEscape(password), url.PathEscape(password)} {
		if form != "" {
			msg = strings.ReplaceAll(msg, form, "xxxxx")
		}
	}
	if msg == err.Error() {
		return err
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
