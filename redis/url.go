package redis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
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

// openURL opens a redis:// or rediss:// URL; see the package doc, # URLs.
// The client it makes belongs to the Lock, whose Close closes it.
func openURL(ctx context.Context, u *url.URL) (lock.Lock, error) {
	cfg, err := parseURL(u)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	client, err := cfg.newClient()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
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
		return nil, fmt.Errorf("redis: ping: %w", redact(err, pass))
	}
	return newLock(client, &cfg.opts, true), nil
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

// lockParams are the query parameters the lock reads itself; every other
// parameter goes to go-redis's URL parser.
var lockParams = map[string]bool{
	"prefix":        true,
	"fence":         true,
	"retry_timeout": true,
	"max_ttl":       true,
	"timeout":       true,
	"cluster":       true,
	"sentinel_auth": true,
}

// rejected lists parameters refused with a reason: credentials, which would
// appear unredacted wherever the URL is printed, and the original toolkit's
// settings that are named differently here.
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

// parseURL returns the configuration that u names. It does not modify u,
// and the errors it returns never contain the URL's password: go-redis's
// parser is handed the URL without its userinfo, and the credentials are
// set on the options it returns. Nor do they show the values of parameters
// named like secrets (password= is refused by name, sentinel_auth='s value
// is not quoted; see urlparam.SecretName).
func parseURL(u *url.URL) (*urlConfig, error) {
	const form = "want redis[s]://[user[:password]@]host[:port][/db][?parameters]"
	if u.Opaque != "" || u.Fragment != "" {
		return nil, errors.New(form)
	}
	if strings.Contains(u.Host, ",") {
		return nil, errors.New("one host in the URL: name more cluster nodes or sentinels with addr= parameters")
	}

	all, err := urlparam.Values(u)
	if err != nil {
		return nil, err
	}
	mine, rest := url.Values{}, url.Values{}
	for k, vs := range all {
		if lockParams[k] || rejected[k] != "" {
			mine[k] = vs
		} else {
			rest[k] = vs
		}
	}
	c := &urlConfig{}
	var (
		timeout               time.Duration
		cluster, sentinelAuth bool
	)
	q := urlparam.New(mine)
	q.String("prefix", &c.opts.Prefix)
	q.Duration("retry_timeout", &c.opts.RetryInterval)
	q.Duration("max_ttl", &c.opts.MaxTTL)
	q.Bool("fence", &c.opts.Fence)
	q.Duration("timeout", &timeout)
	q.Bool("cluster", &cluster)
	q.Bool("sentinel_auth", &sentinelAuth)
	for _, name := range slices.Sorted(maps.Keys(rejected)) { // one order, one message
		q.Reject(name, rejected[name])
	}
	if err := q.Err(); err != nil {
		return nil, err
	}
	if q.Has("prefix") && c.opts.Prefix == "" {
		return nil, fmt.Errorf("parameter prefix is empty: leave it out for the default %q", DefaultPrefix)
	}
	for _, k := range slices.Sorted(maps.Keys(rest)) {
		if vs := rest[k]; len(vs) > 1 && k != "addr" {
			return nil, fmt.Errorf("parameter %s given %d times", k, len(vs))
		}
	}
	master := rest.Get("master_name")
	if master != "" {
		for _, name := range notWithSentinel {
			if rest.Has(name) {
				return nil, fmt.Errorf("parameter %s with master_name: locks are taken on the primary", name)
			}
		}
	}
	switch {
	case cluster && rest.Has("master_name"):
		return nil, errors.New("cluster=true and master_name exclude each other: a redis cluster fails over without sentinels")
	case sentinelAuth && master == "":
		return nil, errors.New("sentinel_auth needs master_name")
	case rest.Has("addr") && !cluster && master == "":
		return nil, errors.New("addr names more cluster nodes (with cluster=true) or sentinels (with master_name=…); a single server takes none")
	case cluster && strings.Trim(u.Path, "/") != "" && strings.Trim(u.Path, "/") != "0":
		return nil, fmt.Errorf("database %s: a redis cluster has only database 0", strings.Trim(u.Path, "/"))
	}

	// go-redis's parser sees the URL without its userinfo, so that none of
	// its errors can carry the password.
	g := (&url.URL{
		Scheme:   strings.ToLower(u.Scheme),
		Host:     u.Host,
		Path:     u.Path,
		RawPath:  u.RawPath,
		RawQuery: rest.Encode(),
	}).String()
	user := u.User.Username()
	pass, _ := u.User.Password()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	// bound sets the defaults that bound each call (see the package doc,
	// # Timeouts): timeout for the go-redis timeouts not given on their
	// own, one dial per attempt, and no retries inside go-redis, unless
	// the URL asks for them.
	bound := func(dial, read, write *time.Duration, dialerRetries, maxRetries *int) {
		for _, t := range []struct {
			name string
			d    *time.Duration
		}{{"dial_timeout", dial}, {"read_timeout", read}, {"write_timeout", write}} {
			if !rest.Has(t.name) {
				*t.d = timeout
			}
		}
		if !rest.Has("dialer_retries") {
			*dialerRetries = 1
		}
		if maxRetries != nil && !rest.Has("max_retries") {
			*maxRetries = -1
		}
	}
	if strings.Trim(u.Path, "/") != "" && rest.Has("db") {
		return nil, errors.New("database given twice, in the path and as db=: give one")
	}
	switch {
	case cluster:
		var o *goredis.ClusterOptions
		if o, err = goredis.ParseClusterURL(g); err == nil {
			o.Username, o.Password = user, pass
			// A cluster client retries within MaxRedirects, which it also
			// needs to follow slots that move: left as it is.
			bound(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, nil)
			o.ContextTimeoutEnabled = true
			c.cluster = o
		}
	case master != "":
		var o *goredis.FailoverOptions
		if o, err = goredis.ParseFailoverURL(g); err == nil {
			o.Username, o.Password = user, pass
			if sentinelAuth {
				o.SentinelUsername, o.SentinelPassword = user, pass
			}
			bound(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries)
			o.ContextTimeoutEnabled = true
			c.failover = o
		}
	default:
		var o *goredis.Options
		if o, err = goredis.ParseURL(g); err == nil {
			o.Username, o.Password = user, pass
			bound(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries)
			o.ContextTimeoutEnabled = true
			c.single = o
		}
	}
	if err != nil {
		return nil, goRedisError(err)
	}
	return c, nil
}

// goRedisError drops the "redis: " that go-redis puts before its messages,
// which this package adds itself, and the URL that url.Parse errors repeat.
func goRedisError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.New(strings.TrimPrefix(err.Error(), "redis: "))
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
