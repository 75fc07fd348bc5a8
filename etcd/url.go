package etcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/distlock/lock"
	"github.com/distlock/lock/urlparam"
)

// DefaultDialTimeout bounds the connection to the cluster of a Lock opened
// by URL, and Open's check that the cluster answers, when the URL gives no
// dial_timeout.
const DefaultDialTimeout = 2 * time.Second

func init() {
	lock.Register(Scheme, openURL)
	lock.Register(SchemeTLS, openURL)
	lock.RegisterPort(Scheme, "2379")
	lock.RegisterPort(SchemeTLS, "2379")
}

// urlConfig is what a URL configures.
type urlConfig struct {
	opts Options
	cfg  clientv3.Config
}

// parseURL reads u: the endpoints from its host list, the user and
// password for etcd's authentication, and the parameters.
func parseURL(u *url.URL) (*urlConfig, error) {
	all, err := urlparam.Values(u)
	if err != nil {
		return nil, err
	}
	c := &urlConfig{}
	q := urlparam.New(all)
	q.Common(&c.opts.Prefix, &c.opts.Options)
	q.Duration("timeout", &c.opts.Timeout)
	dial := DefaultDialTimeout
	q.Duration("dial_timeout", &dial)
	useTLS := strings.EqualFold(u.Scheme, SchemeTLS)
	q.Bool("tls", &useTLS)
	var ca, serverName string
	q.NonEmpty("ca", &ca)
	q.NonEmpty("server_name", &serverName)
	insecure := false
	q.Bool("insecure_skip_verify", &insecure)
	if err := q.Err(); err != nil {
		return nil, err
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("path %q: an etcd URL names no database (use prefix= to keep keys apart)", u.Path)
	}
	if u.Host == "" {
		return nil, errors.New("no host: want etcd://host:2379[,host:2379...]")
	}
	for _, h := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			if !strings.Contains(err.Error(), "missing port") {
				return nil, fmt.Errorf("endpoint %q: %v", h, err)
			}
			host, port = h, "2379"
		}
		if host == "" {
			return nil, fmt.Errorf("endpoint %q: no host", h)
		}
		c.cfg.Endpoints = append(c.cfg.Endpoints, net.JoinHostPort(host, port))
	}
	if u.User != nil {
		c.cfg.Username = u.User.Username()
		c.cfg.Password, _ = u.User.Password()
	}
	if !useTLS && (ca != "" || serverName != "" || insecure) {
		return nil, errors.New("ca, server_name and insecure_skip_verify need TLS: use etcds:// or tls=true")
	}
	if useTLS {
		conf := &tls.Config{ServerName: serverName, InsecureSkipVerify: insecure}
		if ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("ca: %w", err)
			}
			conf.RootCAs = x509.NewCertPool()
			if !conf.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca %s: no PEM certificate in it", ca)
			}
		}
		c.cfg.TLS = conf
	}
	c.cfg.DialTimeout = dial
	c.cfg.Logger = zap.NewNop()
	// gRPC's own reconnect backoff grows to two minutes: a Lock would
	// stay away that long after an outage of the cluster. Reconnect
	// within a second, and find a silent partition by keepalives.
	c.cfg.DialOptions = []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: dial,
	})}
	c.cfg.DialKeepAliveTime, c.cfg.DialKeepAliveTimeout = 10*time.Second, 3*time.Second
	return c, nil
}

// openURL opens an etcd:// or etcds:// URL; see the package doc, # URLs.
// The client it makes belongs to the Lock, whose Close closes it.
func openURL(ctx context.Context, u *url.URL) (lock.Lock, error) {
	c, err := parseURL(u)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", urlparam.Invalid(err))
	}
	c.cfg.Context = context.WithoutCancel(ctx)
	client, err := clientv3.New(c.cfg)
	if err != nil {
		// With a user, New authenticates within the dial timeout: an
		// unreachable cluster fails here.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || status.Code(err) == codes.Unavailable {
			return nil, fmt.Errorf("etcd: %s does not answer: %w", strings.Join(c.cfg.Endpoints, ","), kind(err))
		}
		return nil, fmt.Errorf("etcd: %w", urlparam.Invalid(err))
	}
	// The client connects in the background: a read of the prefix, which
	// needs the cluster's quorum, shows that it answers, within the dial
	// timeout, and that the user may read the Lock's keys.
	pctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	_, err = client.Get(pctx, c.opts.prefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		client.Close()
		if answer(err) {
			return nil, fmt.Errorf("etcd: reading the prefix %q: %w", c.opts.prefix(), err)
		}
		return nil, fmt.Errorf("etcd: %s does not answer: %w", strings.Join(c.cfg.Endpoints, ","), kind(err))
	}
	return lock.New(newBackend(client, &c.opts, true), c.opts.lockOptions()), nil
}
