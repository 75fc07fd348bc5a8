package memcached

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
)

// Scheme is the URL scheme of this backend.
const Scheme = "memcached"

// Defaults used when the corresponding Options field is zero.
const (
	// DefaultPrefix is prepended to every lock key.
	DefaultPrefix = "lock:"

	// DefaultRetries is how many times an operation that failed in transit
	// is retried, as the original's retries setting.
	DefaultRetries = 3

	// DefaultMaxKeySize is memcached's own key length limit.
	DefaultMaxKeySize = 250

	// DefaultMaxExpiration is memcached's limit for a relative expiration:
	// longer ones are read as absolute Unix times.
	DefaultMaxExpiration = 30 * 24 * time.Hour

	// DefaultTimeout is the socket read/write and dial timeout of clients
	// made by Dial and Open.
	DefaultTimeout = 500 * time.Millisecond
)

// DefaultPoolSize is the number of idle connections kept per server by
// clients made by Dial and Open when Options.PoolSize is zero: enough for
// as many concurrent calls as the process has Ps, so parallel use does not
// open and close a connection per call.
func DefaultPoolSize() int { return max(8, 2*runtime.GOMAXPROCS(0)) }

func init() { lock.Register(Scheme, openURL) }

// Options configures the memcached backend. The zero value, and a nil
// *Options, mean the documented defaults.
type Options struct {
	// Prefix is prepended to every lock key, so lock keys do not collide
	// with other data on the server. Empty means DefaultPrefix.
	Prefix string

	// RetryInterval caps the pause between two attempts of a wait (see
	// lock.Options). Zero means lock.DefaultRetryInterval.
	RetryInterval time.Duration

	// Retries is how many times an operation that failed in transit is
	// retried before its error is returned. Zero means DefaultRetries; a
	// negative value means no retries.
	Retries int

	// MaxKeySize is the longest key sent to the server, at most 250. Keys
	// that would be longer (or that memcached cannot carry) are sent as a
	// hash. Zero means DefaultMaxKeySize.
	MaxKeySize int

	// MaxExpiration is the longest expiration the server is asked for. The
	// longest ttl accepted is MaxExpiration minus 2s, the margin that keeps
	// a lock from expiring early on memcached's whole-second clock. Zero
	// means DefaultMaxExpiration, memcached's own limit, which is also the
	// most it may be.
	MaxExpiration time.Duration

	// The fields below configure the client that Dial (and Open) make. New
	// ignores them: the caller's client keeps its own settings.

	// Timeout is the dial and socket read/write timeout of one operation.
	// Zero means DefaultTimeout.
	Timeout time.Duration

	// PoolSize is the number of idle connections kept per server. Zero
	// means DefaultPoolSize().
	PoolSize int

	// TLS, when not nil, makes the client connect with TLS (memcached
	// started with --enable-ssl). A nil ServerName is filled in from each
	// server's host name.
	TLS *tls.Config
}

// config is Options with the defaults applied and checked.
type config struct {
	keys    keyMapper
	retries int
	maxExp  int32 // seconds
	lock    lock.Options
}

func (o *Options) config() (config, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	c := config{retries: opts.Retries}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.MaxKeySize == 0 {
		opts.MaxKeySize = DefaultMaxKeySize
	}
	if opts.MaxKeySize < 0 || opts.MaxKeySize > DefaultMaxKeySize {
		return c, fmt.Errorf("max_key_size %d is outside memcached's 1..%d", opts.MaxKeySize, DefaultMaxKeySize)
	}
	var err error
	if c.keys, err = newKeyMapper(opts.Prefix, opts.MaxKeySize); err != nil {
		return c, err
	}
	if opts.MaxExpiration == 0 {
		opts.MaxExpiration = DefaultMaxExpiration
	}
	if opts.MaxExpiration < 3*time.Second || opts.MaxExpiration > DefaultMaxExpiration {
		return c, fmt.Errorf("max_expiration %v is outside 3s..%v (longer expirations are absolute times to memcached)", opts.MaxExpiration, DefaultMaxExpiration)
	}
	c.maxExp = int32(opts.MaxExpiration / time.Second)
	c.lock = lock.Options{
		RetryInterval: opts.RetryInterval,
		MaxTTL:        time.Duration(c.maxExp-2) * time.Second,
	}
	return c, nil
}

// New returns a Lock that keeps its locks on the servers of client. The
// client stays the caller's: it is used concurrently, its settings are not
// changed, and the Lock's Close does not close it. New fails only on invalid
// opts.
func New(client *memcache.Client, opts *Options) (lock.Lock, error) {
	if client == nil {
		return nil, errors.New("memcached: nil client")
	}
	c, err := opts.config()
	if err != nil {
		return nil, fmt.Errorf("memcached: %w", err)
	}
	return lock.New(&backend{mc: client, cfg: c}, &c.lock), nil
}

// Dial returns a Lock on the memcached servers at addrs ("host:port", or the
// path of a Unix socket; keys are spread across several servers, not
// replicated), with a client of its own that the Lock's Close closes. The
// servers are sorted, so that the order in which a process lists them does
// not change where a key is stored, and dialled by name. Dial checks that
// every host resolves and every server answers before ctx is done.
func Dial(ctx context.Context, addrs []string, opts *Options) (lock.Lock, error) {
	if opts == nil {
		opts = &Options{}
	}
	c, err := opts.config()
	if err != nil {
		return nil, fmt.Errorf("memcached: %w", err)
	}
	servers, err := newServers(ctx, addrs)
	if err != nil {
		return nil, fmt.Errorf("memcached: %w", err)
	}
	client := memcache.NewFromSelector(servers)
	client.Timeout = opts.Timeout
	if client.Timeout <= 0 {
		client.Timeout = DefaultTimeout
	}
	client.MaxIdleConns = opts.PoolSize
	if client.MaxIdleConns <= 0 {
		client.MaxIdleConns = DefaultPoolSize()
	}
	if opts.TLS != nil {
		client.DialContext = tlsDialer(opts.TLS, client.Timeout)
	}
	if err := ping(ctx, client); err != nil {
		client.Close()
		return nil, fmt.Errorf("memcached: %w", err)
	}
	return lock.New(&backend{mc: client, cfg: c, owned: true}, &c.lock), nil
}

func tlsDialer(cfg *tls.Config, timeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c := cfg
		if c.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			c = cfg.Clone()
			c.ServerName = host
		}
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: c}
		return d.DialContext(ctx, network, addr)
	}
}

// ping checks every server within ctx. gomemcache takes no context, so the
// ping runs aside and is abandoned (bounded by the client's timeout) when
// ctx ends first; the caller then closes the client, and ping closes it
// again once the abandoned ping returns, since gomemcache keeps a
// connection handed back after Close.
func ping(ctx context.Context, client *memcache.Client) error {
	done := make(chan error, 1)
	go func() { done <- client.Ping() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		go func() {
			<-done
			client.Close()
		}()
		return ctx.Err()
	}
}

// backend implements lock.Backend on memcached's classic text protocol.
type backend struct {
	mc    *memcache.Client
	cfg   config
	owned bool // mc was made by Dial: Close closes it
}

// expiration returns the expiration, in whole seconds, that keeps a lock of
// ttl alive at least ttl: memcached's clock ticks once a second, so an item
// with expiration n may vanish after only n-1 seconds.
func expiration(ttl time.Duration) int32 {
	return int32((ttl+time.Second-1)/time.Second) + 1
}

// transient reports whether err is a failure in transit, after which the
// outcome of the command is unknown, rather than an answer of the server.
func transient(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, memcache.ErrCacheMiss),
		errors.Is(err, memcache.ErrCASConflict),
		errors.Is(err, memcache.ErrNotStored),
		errors.Is(err, memcache.ErrMalformedKey),
		errors.Is(err, memcache.ErrNoServers),
		errors.Is(err, errNoCAS):
		return false
	}
	return true
}

// Acquire adds the key: one round trip. When the add fails in transit its
// outcome is unknown: it may have landed, even after the client gave up on
// it. The key is then read back before answering. If it holds our token,
// the add did land, at some moment before now, so the expiration is written
// again from now (a compare-and-swap on the cas id read) before the lock is
// reported held: it never expires early, and is not left orphaned. If it
// holds another token, the lock is not ours; if it is absent, the add was
// lost and is sent again, up to the configured retries.
func (b *backend) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	native, exp := b.cfg.keys.native(key), expiration(ttl)
	item := &memcache.Item{Key: native, Value: []byte(token), Expiration: exp}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("memcached: %w", err)
		}
		err := b.mc.Add(item)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, memcache.ErrNotStored) && attempt == 0:
			return false, nil
		case !transient(err) && !errors.Is(err, memcache.ErrNotStored):
			return false, fmt.Errorf("memcached: %w", err)
		}
		// This add failed in transit, or an earlier one did and this one
		// found the key taken: whose token is stored?
		st, rerr := b.swap(ctx, native, token, exp)
		switch {
		case rerr != nil:
			return false, fmt.Errorf("memcached: add failed (%w), and reading it back failed: %w", err, rerr)
		case st == swapped:
			return true, nil
		case st == other:
			return false, nil
		case attempt >= b.cfg.retries:
			return false, unavailable(err)
		}
		if err := pause(ctx, attempt); err != nil {
			return false, err
		}
	}
}

// unavailable wraps an error in transit for the Lock, which retries such
// errors in waits and keep-alives.
func unavailable(err error) error {
	return fmt.Errorf("memcached: %w: %w", lock.ErrUnavailable, err)
}

// pause waits before retry number attempt+1 of a command that failed in
// transit: a fault that cut one reply often cuts the next command too, and
// a pause lets it heal. The pauses are jittered (so clients spread out) and
// double from about 5ms; ctx cuts them short.
func pause(ctx context.Context, attempt int) error {
	d := 5 * time.Millisecond << min(attempt, 5)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memcached: %w", ctx.Err())
	}
}

// Release expires the key at once with a compare-and-swap on the cas id of
// the item read, so it acts only if the token read is still stored.
func (b *backend) Release(ctx context.Context, key, token string) (bool, error) {
	st, err := b.swap(ctx, b.cfg.keys.native(key), token, -1)
	return st == swapped, err
}

// Extend sets the key's expiration with a compare-and-swap, as Release.
func (b *backend) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	st, err := b.swap(ctx, b.cfg.keys.native(key), token, expiration(ttl))
	return st == swapped, err
}

// state is what swap found.
type state int

const (
	absent  state = iota // no item
	other                // an item with another token
	swapped              // our token, now stored with the new expiration
	changed              // the item changed between the get and the cas
)

// maxChanges bounds the re-reads of an item that changed under the cas.
const maxChanges = 3

// swap gets native and, if it stores token, writes token back with exp by a
// compare-and-swap on the cas id read: two round trips, atomic through the
// cas id. exp -1 expires the item at once: memcached then treats the key as
// absent, and no plain delete, which would not check the owner, is needed.
// Failures in transit are retried up to the configured retries.
//
// An item that changed between the get and the cas is read again rather
// than taken for another owner's: a cas of ours that failed in transit may
// have landed late, changing the cas id of an item that still holds our
// token.
func (b *backend) swap(ctx context.Context, native, token string, exp int32) (state, error) {
	casLost := false // a cas failed in transit: it may have landed
	for attempt, changes := 0, 0; ; {
		if err := ctx.Err(); err != nil {
			return absent, fmt.Errorf("memcached: %w", err)
		}
		st, casSent, err := b.swapOnce(native, token, exp)
		switch {
		case err == nil && st == changed:
			if changes++; changes > maxChanges {
				return absent, errors.New("memcached: the item kept changing under the compare-and-swap")
			}
			continue
		case err == nil:
			if st == absent && casLost && exp < 0 {
				// Our release landed (or the lock expired meanwhile):
				// either way it was ours, and it is gone.
				st = swapped
			}
			return st, nil
		}
		casLost = casLost || casSent
		switch {
		case !transient(err):
			return absent, fmt.Errorf("memcached: %w", err)
		case attempt >= b.cfg.retries:
			return absent, unavailable(err)
		}
		if err := pause(ctx, attempt); err != nil {
			return absent, err
		}
		attempt++
	}
}

// errNoCAS reports a server that gives no cas ids (memcached -C): it cannot
// check an owner.
var errNoCAS = errors.New("the server gives no cas ids (memcached -C?): it cannot check a lock's owner")

// swapOnce is one attempt of swap. casSent reports whether the cas was sent.
func (b *backend) swapOnce(native, token string, exp int32) (st state, casSent bool, err error) {
	item, err := b.mc.Get(native)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return absent, false, nil
	case err != nil:
		return absent, false, err
	case string(item.Value) != token:
		return other, false, nil
	case item.CasID == 0:
		return absent, false, errNoCAS
	}
	item.Expiration = exp
	switch err := b.mc.CompareAndSwap(item); {
	case err == nil:
		return swapped, true, nil
	case errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored):
		return absent, true, nil // expired between the get and the cas
	case errors.Is(err, memcache.ErrCASConflict):
		return changed, true, nil
	default:
		return absent, true, err
	}
}

func (b *backend) Close() error {
	if b.owned {
		return b.mc.Close()
	}
	return nil
}
