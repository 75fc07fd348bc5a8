package memcached

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/distlock/lock"
	"github.com/distlock/lock/urlparam"
)

// DefaultPort is the port of a server named in a URL without one.
const DefaultPort = "11211"

func init() {
	lock.Register(Scheme, openURL)
	lock.RegisterPort(Scheme, "11211")
}

// openURL opens a memcached:// URL; see the package doc, # URLs.
func openURL(ctx context.Context, u *url.URL) (lock.Lock, error) {
	addrs, opts, err := parseURL(u)
	if err != nil {
		return nil, fmt.Errorf("memcached: %w", urlparam.Invalid(err))
	}
	return Dial(ctx, addrs, opts)
}

// parseURL returns the servers and options that u names.
func parseURL(u *url.URL) ([]string, *Options, error) {
	const form = "want memcached://host[:port][,host[:port]...][?parameters]"
	switch {
	case u.User != nil:
		return nil, nil, errors.New("no user or password: memcached's protocols have no authentication (protect it with tls=true and network rules); remove the userinfo before the host")
	case u.Opaque != "":
		return nil, nil, errors.New(form + " (with the //)")
	case u.Path != "" && u.Path != "/":
		return nil, nil, errors.New(form + ": memcached has no databases, so the URL has no path")
	case u.Fragment != "":
		return nil, nil, errors.New(form + ": no #fragment")
	}
	var addrs []string
	for _, hp := range strings.Split(u.Host, ",") {
		if hp == "" {
			if u.Host == "" {
				continue // memcached:// is the default server
			}
			return nil, nil, fmt.Errorf("empty server name in %q", u.Host)
		}
		if _, _, err := net.SplitHostPort(hp); err != nil {
			hp = net.JoinHostPort(strings.Trim(hp, "[]"), DefaultPort)
		}
		addrs = append(addrs, hp)
	}
	if len(addrs) == 0 {
		addrs = []string{net.JoinHostPort("localhost", DefaultPort)}
	}

	opts := &Options{}
	v, err := urlparam.Values(u)
	if err != nil {
		return nil, nil, err
	}
	q := urlparam.New(v)
	q.Common(&opts.Prefix, &opts.Options)
	q.Int("retries", &opts.Retries)
	if q.Has("retries") && opts.Retries == 0 {
		opts.Retries = -1 // retries=0 means none, not the default
	}
	q.PositiveInt("max_key_size", &opts.MaxKeySize)
	q.DurationBareSeconds("max_expiration", &opts.MaxExpiration)
	q.Duration("timeout", &opts.Timeout)
	q.Duration("call_timeout", &opts.CallTimeout)
	q.PositiveInt("pool_size", &opts.PoolSize)
	q.Bool("fence", &opts.Fence)
	var useTLS bool
	q.Bool("tls", &useTLS)
	if useTLS {
		opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	for _, name := range slices.Sorted(maps.Keys(unsupported)) { // one order, one message
		q.Reject(name, unsupported[name])
	}
	if err := q.Err(); err != nil {
		return nil, nil, err
	}
	if _, err := opts.config(); err != nil {
		return nil, nil, err
	}
	return addrs, opts, nil
}

// unsupported lists the original toolkit's settings that have no meaning
// here, and why, so that a URL carrying one fails instead of being
// silently half-obeyed.
var unsupported = map[string]string{
	"host":          "name servers in the URL: memcached://host1:11211,host2:11211",
	"port":          "name servers in the URL: memcached://host1:11211,host2:11211",
	"uri":           "name servers in the URL: memcached://host1:11211,host2:11211",
	"discovery_key": "there is no discovery service: name servers in the URL",
	"max_size":      "the server's memory (memcached -m) bounds what it stores; a lock stores one small value",
	"max_value":     "a lock stores only its token, a few bytes",
	"reconnect":     "connections are dialled on demand, within timeout",
	"failures":      "there is no circuit breaker: the Lock retries a failure in transit, with backoff up to retry_interval",
	"retry":         "there is no circuit breaker: the Lock retries a failure in transit, with backoff up to retry_interval",
	"idle":          "connections are kept, up to pool_size per server, until Close",
}
