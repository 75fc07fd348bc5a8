package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	secrets "github.com/distlock/lock/internal/secret"
	"github.com/distlock/lock/internal/testcert"
	"github.com/distlock/lock/internal/testnet"
	"github.com/distlock/lock/urlparam/leakcheck"
)

// secret is the password of the URLs below; no error may contain it.
const secret = "pa55-w0rd-s3cret"

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", raw, err)
	}
	return u
}

func TestParseURL(t *testing.T) {
	const raw = "redis://alice:" + secret + "@db.example:6380/3?prefix=app:&retry_timeout=250ms&max_ttl=1h&pool_size=7&max_retries=2&protocol=2&client_name=app"
	u := mustParse(t, raw)
	c, err := parseURL(u)
	if err != nil {
		t.Fatalf("parseURL(%s) = %v", u.Redacted(), err)
	}
	o := c.single
	if o == nil {
		t.Fatalf("parseURL(%s): no single-server options", u.Redacted())
	}
	if o.Addr != "db.example:6380" || o.DB != 3 || o.Username != "alice" || o.Password != secret ||
		o.PoolSize != 7 || o.MaxRetries != 2 || o.Protocol != 2 || o.ClientName != "app" || o.TLSConfig != nil {
		t.Errorf("parseURL(%s) = addr %q db %d user %q pool %d retries %d protocol %d client %q tls %v; want db.example:6380, 3, alice, 7, 2, 2, app, no TLS",
			u.Redacted(), o.Addr, o.DB, o.Username, o.PoolSize, o.MaxRetries, o.Protocol, o.ClientName, o.TLSConfig != nil)
	}
	want := Options{Prefix: "app:", Options: lock.Options{RetryInterval: 250 * time.Millisecond, MaxTTL: time.Hour}}
	if c.opts != want {
		t.Errorf("parseURL(%s) options = %+v; want %+v", u.Redacted(), c.opts, want)
	}
	if !o.ContextTimeoutEnabled {
		t.Errorf("parseURL(%s): ContextTimeoutEnabled not set; want a ctx to end a command in flight", u.Redacted())
	}
	if u.String() != raw {
		t.Errorf("parseURL modified its URL: %s", u.Redacted())
	}
}

func TestParseURLMinReplicas(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want Options
	}{
		{"redis://h?min_replicas=2", Options{MinReplicas: 2}},
		{"redis://h?min_replicas=1&replica_timeout=250ms", Options{MinReplicas: 1, ReplicaTimeout: 250 * time.Millisecond}},
		{"redis://h?min_replicas=1&replica_timeout=1s&timeout=2s", Options{MinReplicas: 1, ReplicaTimeout: time.Second}},
		{"redis://h?master_name=m&min_replicas=1&fence=true", Options{MinReplicas: 1, Fence: true}},
		{"redis://h?cluster=true&min_replicas=1", Options{MinReplicas: 1}},
	} {
		c, err := parseURL(mustParse(t, tc.raw))
		if err != nil {
			t.Errorf("parseURL(%s) = %v", tc.raw, err)
			continue
		}
		if c.opts != tc.want {
			t.Errorf("parseURL(%s) options = %+v; want %+v", tc.raw, c.opts, tc.want)
		}
	}
}

func TestParseURLDefaults(t *testing.T) {
	c, err := parseURL(mustParse(t, "redis://"))
	if err != nil {
		t.Fatalf("parseURL(redis://) = %v", err)
	}
	if c.single.Addr != "localhost:6379" || c.single.DB != 0 || c.opts != (Options{}) {
		t.Errorf("parseURL(redis://) = addr %q db %d opts %+v; want localhost:6379, 0, zero options", c.single.Addr, c.single.DB, c.opts)
	}
	if got := c.opts.prefix(); got != DefaultPrefix {
		t.Errorf("default prefix = %q; want %q", got, DefaultPrefix)
	}
}

func TestParseURLTLS(t *testing.T) {
	c, err := parseURL(mustParse(t, "rediss://:"+secret+"@secure.example/1"))
	if err != nil {
		t.Fatalf("parseURL(rediss://…) = %v", err)
	}
	o := c.single
	if o.TLSConfig == nil || o.TLSConfig.ServerName != "secure.example" || o.TLSConfig.InsecureSkipVerify {
		t.Fatalf("parseURL(rediss://…) TLS = %+v; want ServerName secure.example, verifying", o.TLSConfig)
	}
	if o.Addr != "secure.example:6379" || o.DB != 1 || o.Password != secret || o.Username != "" {
		t.Errorf("parseURL(rediss://…) = addr %q db %d user %q; want secure.example:6379, 1, no user", o.Addr, o.DB, o.Username)
	}
	c, err = parseURL(mustParse(t, "REDISS://h?skip_verify=true"))
	if err != nil {
		t.Fatalf("parseURL(REDISS://h?skip_verify=true) = %v", err)
	}
	if c.single.TLSConfig == nil || !c.single.TLSConfig.InsecureSkipVerify {
		t.Errorf("parseURL(REDISS://h?skip_verify=true) TLS = %+v; want InsecureSkipVerify", c.single.TLSConfig)
	}
}

// TestParseURLTimeout checks timeout against go-redis's own timeouts, all
// with units, and the defaults the package doc states.
func TestParseURLTimeout(t *testing.T) {
	for _, tc := range []struct {
		query             string
		dial, read, write time.Duration
	}{
		{"timeout=1500ms&read_timeout=4s", 1500 * time.Millisecond, 4 * time.Second, 1500 * time.Millisecond},
		{"timeout=1.5s&read_timeout=4000ms", 1500 * time.Millisecond, 4 * time.Second, 1500 * time.Millisecond},
		{"timeout=250ms&dial_timeout=2s&write_timeout=3s", 2 * time.Second, 250 * time.Millisecond, 3 * time.Second},
		{"", DefaultTimeout, DefaultTimeout, DefaultTimeout},
		{"read_timeout=2s", DefaultTimeout, 2 * time.Second, DefaultTimeout},
	} {
		c, err := parseURL(mustParse(t, "redis://h?"+tc.query))
		if err != nil {
			t.Fatalf("parseURL(?%s) = %v", tc.query, err)
		}
		client := goredis.NewClient(c.single) // applies go-redis's defaults; dials nothing yet
		o := client.Options()
		client.Close()
		if o.DialTimeout != tc.dial || o.ReadTimeout != tc.read || o.WriteTimeout != tc.write {
			t.Errorf("?%s: dial %v read %v write %v; want %v, %v, %v", tc.query, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, tc.dial, tc.read, tc.write)
		}
	}
}

// TestParseURLRetries checks the retries of the clients made from URLs:
// none inside go-redis and one dial per attempt by default (the package
// doc, # Timeouts), and what the URL asks for otherwise.
func TestParseURLRetries(t *testing.T) {
	for _, tc := range []struct {
		raw                       string
		maxRetries, dialerRetries int
	}{
		{"redis://h", -1, 1},
		{"redis://h?max_retries=2", 2, 1},
		{"redis://h?master_name=m", -1, 1},
		{"redis://h?master_name=m&max_retries=3&dialer_retries=4", 3, 4},
		{"redis://h?cluster=true&dialer_retries=2", 0, 2},
	} {
		c, err := parseURL(mustParse(t, tc.raw))
		if err != nil {
			t.Fatalf("parseURL(%s) = %v", tc.raw, err)
		}
		var maxRetries, dialerRetries int
		switch {
		case c.single != nil:
			maxRetries, dialerRetries = c.single.MaxRetries, c.single.DialerRetries
		case c.failover != nil:
			maxRetries, dialerRetries = c.failover.MaxRetries, c.failover.DialerRetries
		default:
			maxRetries, dialerRetries = c.cluster.MaxRetries, c.cluster.DialerRetries
		}
		if maxRetries != tc.maxRetries || dialerRetries != tc.dialerRetries {
			t.Errorf("parseURL(%s): MaxRetries %d, DialerRetries %d; want %d, %d", tc.raw, maxRetries, dialerRetries, tc.maxRetries, tc.dialerRetries)
		}
	}
}

func TestParseURLCluster(t *testing.T) {
	c, err := parseURL(mustParse(t, "redis://bob:"+secret+"@n1:7000/0?cluster=true&addr=n2:7001&addr=n3:7002&read_timeout=2s&timeout=1500ms"))
	if err != nil {
		t.Fatalf("parseURL = %v", err)
	}
	o := c.cluster
	if o == nil || c.single != nil || c.failover != nil {
		t.Fatalf("cluster=true: single %v cluster %v failover %v; want cluster options only", c.single != nil, c.cluster != nil, c.failover != nil)
	}
	if got, want := strings.Join(o.Addrs, ","), "n1:7000,n2:7001,n3:7002"; got != want {
		t.Errorf("cluster addrs = %s; want %s", got, want)
	}
	if o.Username != "bob" || o.Password != secret || o.ReadTimeout != 2*time.Second ||
		o.DialTimeout != 1500*time.Millisecond || o.WriteTimeout != 1500*time.Millisecond {
		t.Errorf("cluster user %q timeouts dial %v read %v write %v; want bob, 1.5s, 2s, 1.5s", o.Username, o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
	}
}

func TestParseURLSentinel(t *testing.T) {
	for _, auth := range []bool{false, true} {
		raw := "redis://:" + secret + "@s1:26379/2?master_name=mymaster&addr=s2:26379&timeout=1500ms"
		if auth {
			raw += "&sentinel_auth=true"
		}
		c, err := parseURL(mustParse(t, raw))
		if err != nil {
			t.Fatalf("parseURL = %v", err)
		}
		o := c.failover
		if o == nil || c.single != nil || c.cluster != nil {
			t.Fatalf("master_name: single %v cluster %v failover %v; want failover options only", c.single != nil, c.cluster != nil, c.failover != nil)
		}
		if o.MasterName != "mymaster" || o.DB != 2 || o.Password != secret || strings.Join(o.SentinelAddrs, ",") != "s1:26379,s2:26379" {
			t.Errorf("failover = master %q db %d sentinels %v; want mymaster, 2, s1:26379,s2:26379", o.MasterName, o.DB, o.SentinelAddrs)
		}
		if got := o.SentinelPassword == secret; got != auth {
			t.Errorf("sentinel_auth=%v: sentinel password set = %v; want %v", auth, got, auth)
		}
		if o.DialTimeout != 1500*time.Millisecond || o.ReadTimeout != 1500*time.Millisecond || o.WriteTimeout != 1500*time.Millisecond {
			t.Errorf("failover timeouts dial %v read %v write %v; want 1.5s each", o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
		}
	}
}

// TestParseURLErrors checks that bad URLs fail, with a message that says
// why, and that no message, through lock.Open either, contains the
// password.
func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"redis://u:" + secret + "@h?nonsense=1", "unknown parameter nonsense (valid: addr, client_name, close_timeout, cluster, conn_max_idle_time, "},
		{"redis://u:" + secret + "@h?dialer_retries=2", "parameter dialer_retries does not apply to a single server"},
		{"redis://u:" + secret + "@h?timeout=2", "parameter timeout=2 has no unit: write 2ms or 0.002s"},
		{"redis://u:" + secret + "@h?read_timeout=2", "parameter read_timeout=2 has no unit: write 2s or 2000ms"},
		{"redis://u:" + secret + "@h?max_ttl=3600", "parameter max_ttl=3600 has no unit: write 3600ms or 3.6s"},
		{"redis://u:" + secret + "@h?pool_size=-1", `parameter pool_size="-1": want a positive integer`},
		{"redis://u:" + secret + "@h?min_idle_conns=-1", `parameter min_idle_conns="-1": want a non-negative integer`},
		{"redis://u:" + secret + "@h?max_retries=-2", `parameter max_retries="-2": want an integer of at least -1`},
		{"redis://u:" + secret + "@h?protocol=4", "parameter protocol=4: want 2 or 3"},
		{"redis://u:" + secret + "@h?min_replicas=-1", `parameter min_replicas="-1": want a non-negative integer`},
		{"redis://u:" + secret + "@h?min_replicas=1&replica_timeout=300ms", "min_replicas: a replica timeout of 300ms needs a longer read timeout; the client's is 300ms: set replica_timeout below read_timeout"},
		{"redis://u:" + secret + "@h?min_replicas=1&replica_timeout=1s&read_timeout=500ms", "a replica timeout of 1s needs a longer read timeout"},
		{"redis://u:" + secret + "@h?replica_timeout=10", "parameter replica_timeout=10 has no unit"},
		{"redis://u:" + secret + "@h?read_timeout=0s", "read_timeout=0s is zero"},
		{"redis://u:" + secret + "@h?read_timeout=-1s", "read_timeout=-1s is negative"},
		{"redis://u:" + secret + "@h?conn_max_idle_time=-1", "conn_max_idle_time=-1 is negative"},
		{"redis://u:" + secret + "@h?password=x", "parameter password is not supported"},
		{"redis://u:" + secret + "@h?username=u", "parameter username is not supported"},
		{"redis://u:" + secret + "@h?master_name=m&sentinel_password=x", "parameter sentinel_password is not supported"},
		{"redis://u:" + secret + "@h?master_name=m&sentinel_username=x", "parameter sentinel_username is not supported"},
		{"redis://u:" + secret + "@h?retries=3", "max_retries"},
		{"redis://u:" + secret + "@h?host=x", "name the server in the URL"},
		{"redis://u:" + secret + "@h?port=6379", "name the server in the URL"},
		{"redis://u:" + secret + "@h?uri=redis://x", "name the server in the URL"},
		{"redis://u:" + secret + "@h?discovery_key=k", "no discovery service"},
		{"redis://u:" + secret + "@h?prefix=", "prefix is empty"},
		{"redis://u:" + secret + "@h?prefix=a&prefix=b", "given 2 times"},
		{"redis://u:" + secret + "@h?retry_timeout=soon", "retry_timeout=soon is not a duration"},
		{"redis://u:" + secret + "@h?timeout=-5ms", "timeout=-5ms is negative"},
		{"redis://u:" + secret + "@h?timeout=0", "want a positive duration"},
		{"redis://u:" + secret + "@h?max_ttl=0", "want a positive duration"},
		{"redis://u:" + secret + "@h?retry_timeout=0", "want a positive duration"},
		{"redis://u:" + secret + "@h?cluster=maybe", "want true or false"},
		{"redis://u:" + secret + "@h/x", "invalid database number"},
		{"redis://u:" + secret + "@h/1/2", "invalid URL path"},
		{"redis://u:" + secret + "@h?pool_size=many", `pool_size="many": want a positive integer`},
		{"redis://u:" + secret + "@h?read_timeout=later", "read_timeout=later is not a duration"},
		{"redis://u:" + secret + "@h?addr=h2:6379", "addr names more cluster nodes"},
		{"redis://u:" + secret + "@h?cluster=true&master_name=m", "exclude each other"},
		{"redis://u:" + secret + "@h?sentinel_auth=true", "sentinel_auth needs master_name"},
		{"redis://u:" + secret + "@h/3?cluster=true", "only database 0"},
		{"redis://u:" + secret + "@h?cluster=true&addr=nocolon", "unable to parse addr"},
		{"redis://u:" + secret + "@h?master_name=m&addr=nocolon", "unable to parse addr"},
		{"redis://u:" + secret + "@h1:6379,h2:6379", "one host in the URL"},
		{"redis://u:" + secret + "@h#frag", "want redis"},
		{"redis://u:" + secret + "@h?prefix=app;v2:", "malformed query"},
		{"redis://u:" + secret + "@h?prefix=100%:", "malformed query"},
		{"redis://u:" + secret + "@h/3?db=5", "database given twice"},
		{"redis://u:" + secret + "@h?master_name=m&route_randomly=true", "route_randomly with master_name"},
		{"redis://u:" + secret + "@h?master_name=m&route_by_latency=true", "route_by_latency with master_name"},
		{"redis://u:" + secret + "@h?master_name=m&replica_only=true", "replica_only with master_name"},
		{"redis://u:" + secret + "@h?context_timeout_enabled=false", "always on"},
		{"redis://u:" + secret + "@h?pool_size=1&pool_size=2", "pool_size given 2 times"},
	} {
		_, err := parseURL(mustParse(t, tc.url))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseURL(%s) = %v; want an error containing %q", mustParse(t, tc.url).Redacted(), err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("parseURL(%s) error contains the password: %v", mustParse(t, tc.url).Redacted(), err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = lock.Open(ctx, tc.url)
		cancel()
		if err == nil || strings.Contains(err.Error(), secret) || !strings.HasPrefix(err.Error(), "lock: open ") || !strings.Contains(err.Error(), ": redis: ") {
			t.Errorf("lock.Open(%s) = %v; want an error without the password, with the redacted URL and a redis: prefix", mustParse(t, tc.url).Redacted(), err)
		}
	}
}

// TestOpenUnreachable checks that Open reports an unreachable server at
// once, within its ctx, without the password.
func TestOpenUnreachable(t *testing.T) {
	addr := testnet.ClosedAddr(t)
	for _, raw := range []string{
		"redis://u:" + secret + "@" + addr + "/0",
		"redis://u:" + secret + "@" + addr + "?cluster=true",
		"redis://u:" + secret + "@" + addr + "?master_name=m&sentinel_auth=true",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		l, err := lock.Open(ctx, raw)
		took := time.Since(start)
		cancel()
		if err == nil {
			l.Close()
			t.Fatalf("lock.Open(%s) = nil error; want the server reported unreachable", mustParse(t, raw).Redacted())
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("lock.Open(%s) error contains the password: %v", mustParse(t, raw).Redacted(), err)
		}
		if took > 3*time.Second {
			t.Errorf("lock.Open(%s) took %v; want it to return within its 2s ctx", mustParse(t, raw).Redacted(), took)
		}
	}
}

// silentServer returns the address of a server that accepts connections
// and never answers, holding them open until the test ends.
func silentServer(t *testing.T) string { return fakeServer(t, "") }

// fakeServer returns the address of a server that accepts connections and
// answers each read with reply (never, when reply is ""), holding them
// open until the test ends.
func fakeServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			if reply == "" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if _, err := io.WriteString(c, reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestOpenHangingServer checks that Open returns at its ctx deadline when
// the server accepts connections but never answers.
func TestOpenHangingServer(t *testing.T) {
	t.Parallel() // real time: a 300ms deadline
	silent := silentServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := lock.Open(ctx, "redis://:"+secret+"@"+silent)
	if took := time.Since(start); err == nil || took > 2*time.Second {
		t.Fatalf("lock.Open on a silent server = %v after %v; want an error by the 300ms ctx deadline", err, took)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("lock.Open error contains the password: %v", err)
	}
}

// TestOpenAuth checks credentials against a server that requires them, and
// that a refusal does not echo the password.
func TestOpenAuth(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.RequireUserAuth("alice", secret)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wrong := secret + "-wrong"
	if l, err := lock.Open(ctx, "redis://alice:"+wrong+"@"+mr.Addr()); err == nil {
		l.Close()
		t.Errorf("lock.Open with a wrong password = nil error; want a refusal")
	} else if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), secret) {
		t.Errorf("lock.Open refusal contains the password: %v", err)
	}
	l, err := lock.Open(ctx, "redis://alice:"+secret+"@"+mr.Addr()+"?prefix=auth:&max_ttl=1m")
	if err != nil {
		t.Fatalf("lock.Open with the right password = %v", err)
	}
	defer l.Close()
	if _, err := l.TryAcquireLock(ctx, "k", time.Minute+time.Millisecond); !errors.Is(err, lock.ErrInvalidTTL) {
		t.Errorf("TryAcquireLock(ttl 1m1ms) with max_ttl=1m = %v; want ErrInvalidTTL", err)
	}
	if ok, err := l.TryAcquireLock(ctx, "k", time.Minute); !ok || err != nil {
		t.Fatalf("TryAcquireLock = %v, %v; want true, nil", ok, err)
	}
	if !mr.Exists("auth:k") {
		t.Errorf("key auth:k not stored; want the prefix from the URL used")
	}
}

// TestParseURLHidesSecretValues checks the errors of URLs with a password in
// a parameter: its value is never shown, even when it does not parse.
func TestParseURLHidesSecretValues(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{"password=" + secret, "parameter password is not supported"},
		{"password=" + secret + "%zz", "malformed %-escape in the value of password"},
		{"password=" + secret + ";x", "malformed query: a ';'"},
		{"sentinel_password=" + secret + "&master_name=m", "parameter sentinel_password is not supported"},
		{"sentinel_auth=" + secret + "&master_name=m", "parameter sentinel_auth (value not shown): want true or false"},
		{"prefix=" + secret + "%zz", "malformed %-escape in the value of prefix"},
	} {
		u := &url.URL{Scheme: "redis", User: url.UserPassword("u", secret), Host: "h", RawQuery: tc.query}
		_, err := parseURL(u)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseURL(?%s) = %v; want an error containing %q", tc.query, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "%zz") {
			t.Errorf("parseURL(?%s) error shows the password: %v", tc.query, err)
		}
	}
}

// TestOpenMasksEchoedPassword checks that a server whose refusal echoes the
// password, in the forms an error may quote or escape it in, gets an error
// from lock.Open that shows none of them, and that errors.As still finds
// the server's error in it.
func TestOpenMasksEchoedPassword(t *testing.T) {
	const pw = `pa"ss wörd/` + secret
	quoted := strconv.Quote(pw)
	echo := fmt.Sprintf("-ERR refused %s %s %s %s\r\n", pw, quoted, url.QueryEscape(pw), url.PathEscape(pw))
	addr := fakeServer(t, echo) // one refusal a command: HELLO, then AUTH
	u := &url.URL{Scheme: "redis", User: url.UserPassword("alice", pw), Host: addr, Path: "/0"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := lock.Open(ctx, u.String())
	if err == nil {
		l.Close()
		t.Fatal("lock.Open on a server that refuses everything = nil error")
	}
	if !strings.Contains(err.Error(), `refused xxxxx "xxxxx" xxxxx xxxxx`) {
		t.Errorf("lock.Open = %v; want the server's refusal with each form of the password masked", err)
	}
	for _, piece := range []string{secret, "ss", "rd"} {
		if strings.Contains(err.Error(), piece) {
			t.Errorf("lock.Open = %v; it shows %q, a piece of the password", err, piece)
		}
	}
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		t.Errorf("lock.Open = %v; want errors.As to find the server's error", err)
	}
}

// TestGoRedisParamsInSync checks goRedisParams against the parameters that
// go-redis's URL parsers read, in its source in the module cache: each of
// those is here or in rejected, and each name here is one of those. It
// checks too that none of them is named like a secret, whose value would
// reach go-redis's errors unmasked.
func TestGoRedisParamsInSync(t *testing.T) {
	for name := range goRedisParams {
		if secrets.Name(name) {
			t.Errorf("go-redis parameter %s is named like a secret: its value would reach go-redis", name)
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/redis/go-redis/v9").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("go-redis's source not found (%v)", err)
	}
	read := regexp.MustCompile(`\bq\.(?:string|strings|int|duration|bool|has)\("([^"]+)"\)`)
	names := map[string]bool{}
	for _, file := range []string{"options.go", "osscluster.go", "sentinel.go"} {
		src, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatalf("go-redis's source: %v", err)
		}
		for _, m := range read.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
	}
	if len(names) < len(goRedisParams) {
		t.Fatalf("found %d parameters in go-redis's parsers in %s; want at least %d: the pattern %s is out of date", len(names), dir, len(goRedisParams), read)
	}
	for name := range names {
		if _, ok := goRedisParams[name]; !ok && rejected[name] == "" {
			t.Errorf("go-redis reads parameter %s, which is neither in goRedisParams nor in rejected", name)
		}
	}
	for name := range goRedisParams {
		if !names[name] {
			t.Errorf("goRedisParams has %s, which go-redis does not read", name)
		}
	}
}

// FuzzParseURLHidesPassword checks that parseURL's errors show no piece of a
// password, in the userinfo or in a parameter, with any other parameters;
// see leakcheck for the method. (lock.Open, whose fuzz test covers what
// url.Parse makes of an unescaped password, hands parseURL the URL it
// parsed.)
func FuzzParseURLHidesPassword(f *testing.F) {
	for _, pw := range []string{"hunter2", `pa"ss`, "a/b?c#d@e", "a%zz", "%", "a;b", "a&b", "pä55 wörd", "a\x00b", "\xff"} {
		for form := range uint8(6) {
			f.Add(pw, form, "")
		}
	}
	for _, q := range []string{"nonsense=1", "db=x", "pool_size=x", "prefix=", "retry_timeout=x", "timeout=-1", "addr=h2:1",
		"cluster=maybe", "max_retries=2&max_retries=3", "host=h&port=1", "read_timeout=soon", "skip_verify=x", "x=%zz", "a;b"} {
		f.Add("pw", uint8(0), q)
		f.Add("pw", uint8(3), q)
	}
	f.Fuzz(func(t *testing.T, fuzzed string, form uint8, query string) {
		password := leakcheck.Prefix + fuzzed + leakcheck.Suffix
		msg := parseURLError(t, form, password, query)
		if msg == "" {
			return
		}
		alt := parseURLError(t, form, leakcheck.Rotate(password), query)
		if leak := leakcheck.Leak(msg, alt, password); leak != "" {
			t.Errorf("parseURL with form %d, password %q, query %q: %q:\n%s", form%6, password, query, msg, leak)
		}
	})
}

// parseURLError returns the message of parseURL's error for a URL of form
// form with password in it, or "".
func parseURLError(t *testing.T, form uint8, password, query string) string {
	u := &url.URL{Scheme: "redis", User: url.UserPassword("u", password), Host: "127.0.0.1:1", Path: "/0", RawQuery: query}
	// In a query value, an unescaped '&', ';' or '#' would end the password.
	inQuery := strings.NewReplacer("&", "%26", ";", "%3B", "#", "%23").Replace(password)
	switch form % 6 {
	case 1:
		u.Scheme, u.RawQuery = "rediss", "cluster=true&"+query
	case 2:
		u.RawQuery = "master_name=m&sentinel_auth=true&" + query
	case 3:
		u.User, u.RawQuery = nil, "password="+inQuery+"&"+query
	case 4:
		u.User, u.RawQuery = url.User("u"), "master_name=m&sentinel_password="+inQuery+"&"+query
	case 5:
		u.User, u.RawQuery = nil, "master_name=m&sentinel_auth="+inQuery+"&"+query
	}
	before := u.String()
	_, err := parseURL(u)
	if u.String() != before {
		t.Fatalf("parseURL modified its URL")
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// captured is a go-redis logger that keeps what it is given.
type captured struct {
	mu    sync.Mutex
	lines []string
}

func (c *captured) Printf(_ context.Context, format string, v ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, fmt.Sprintf(format, v...))
}

// TestOpenFailsFastAndQuietly checks that Open on a server that is down,
// and a rediss:// URL to a plain-text server, fail within one dial timeout
// with an error that says what to fix, and that go-redis logs nothing
// about them (its logger is global, so a line would reach the program's
// stderr behind its back).
func TestOpenFailsFastAndQuietly(t *testing.T) {
	logs := &captured{}
	goredis.SetLogger(logs)
	t.Cleanup(func() { goredis.SetLogger(silent{}) })

	mr := miniredis.RunT(t)
	closed := testnet.ClosedAddr(t)
	silent := silentServer(t) // as a plain-text redis is to a TLS hello
	for _, tc := range []struct{ url, want string }{
		{"rediss://" + silent, "(if the server speaks plain text, use redis://)"},
		{"redis://" + closed, "connection refused"},
		{"redis://" + closed + "?cluster=true", "connection refused"},
		{"redis://" + closed + "?master_name=m", "connection refused"},
		{"rediss://" + mr.Addr() + "?timeout=200ms", "TLS handshake with 127.0.0.1:"},
		{"rediss://" + mr.Addr() + "?timeout=200ms", "(if the server speaks plain text, use redis://)"},
	} {
		start := time.Now()
		l, err := lock.Open(context.Background(), tc.url)
		took := time.Since(start)
		if err == nil {
			l.Close()
			t.Fatalf("lock.Open(%s) = nil error; want a failure", tc.url)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lock.Open(%s) = %v; want an error containing %q", tc.url, err, tc.want)
		}
		if errors.Is(err, lock.ErrInvalidURL) {
			t.Errorf("lock.Open(%s) = %v; matches ErrInvalidURL, but the URL is fine", tc.url, err)
		}
		if bound := DefaultTimeout + faultSlackURL; took > bound {
			t.Errorf("lock.Open(%s) took %v; want at most one dial timeout (%v with slack)", tc.url, took, bound)
		}
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.lines) > 0 {
		t.Errorf("go-redis logged %d lines during Open; want none: %q", len(logs.lines), logs.lines)
	}
}

// faultSlackURL is what the timing assertions above allow for scheduling
// on a loaded machine under -race.
const faultSlackURL = 250 * time.Millisecond

// silent is a go-redis logger that drops everything, as the package's
// TestMain sets it.
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

// TestParseURLOff checks the go-redis settings that take a negative
// duration for "none".
func TestParseURLOff(t *testing.T) {
	c, err := parseURL(mustParse(t, "redis://h?conn_max_idle_time=-1s&min_retry_backoff=-1ms&max_retry_backoff=-1ms&conn_max_lifetime=-1s"))
	if err != nil {
		t.Fatalf("parseURL = %v", err)
	}
	o := c.single
	if o.ConnMaxIdleTime != -1 || o.MinRetryBackoff != -1 || o.MaxRetryBackoff != -1 || o.ConnMaxLifetime != -1 {
		t.Errorf("idle %v min backoff %v max backoff %v lifetime %v; want go-redis's -1 (none) for each", o.ConnMaxIdleTime, o.MinRetryBackoff, o.MaxRetryBackoff, o.ConnMaxLifetime)
	}
}

// TestOpenUntrustedTLS checks that a TLS server whose certificate is not
// trusted gets the verification error, without the hint for a plain-text
// server: it does speak TLS.
func TestOpenUntrustedTLS(t *testing.T) {
	cert := testcert.New(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake() // the client refuses it
			}()
		}
	}()
	_, err = lock.Open(context.Background(), "rediss://"+ln.Addr().String())
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) || strings.Contains(err.Error(), "plain text") {
		t.Errorf("lock.Open(rediss:// with an untrusted certificate) = %v; want the verification error, without the plain-text hint", err)
	}
}
