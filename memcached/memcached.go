package memcached

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memcached/internal/mc"
)

// Scheme is the URL scheme of this backend.
const Scheme = "memcached"

// Defaults used when the corresponding Options field is zero.
const (
	// DefaultPrefix is prepended to every lock key.
	DefaultPrefix = "lock:"

	// DefaultRetries was how many times the backend resent an operation
	// that failed in transit.
	//
	// Deprecated: the backend no longer resends; the Lock decides every
	// resend (see lock.ReleaseTries).
	DefaultRetries = 3

	// DefaultMaxKeySize is memcached's own key length limit.
	DefaultMaxKeySize = 250

	// DefaultMaxExpiration is memcached's limit for a relative expiration:
	// longer ones are read as absolute Unix times.
	DefaultMaxExpiration = 30 * 24 * time.Hour

	// DefaultTimeout bounds, in the clients made by Dial and Open, a dial
	// and each command's wait for its reply: a server that takes longer
	// is deemed stuck, and its connection is closed.
	DefaultTimeout = 500 * time.Millisecond

	// DefaultPoolSize is the most connections to each server that a client
	// made by Dial or Open opens, when Options.PoolSize is zero. Each
	// carries many commands at once, so a few serve thousands of
	// concurrent calls, and a process with many Locks stays far below
	// memcached's default limit of 1024 connections.
	DefaultPoolSize = 8

	// DefaultCallTimeout bounds one call to the store (an acquire, release
	// or extend, read-backs included).
	DefaultCallTimeout = time.Second
)

// Options configures the memcached backend. The zero value, and a nil
// *Options, mean the documented defaults.
type Options struct {
	// Options holds the settings every backend shares: RetryInterval,
	// MaxTTL (at most MaxExpiration minus 3s, the default), CloseTimeout and
	// Logger.
	lock.Options

	// Prefix is prepended to every lock key, so lock keys do not collide
	// with other data on the server. Empty means DefaultPrefix.
	Prefix string

	// Retries is ignored, and checked no more: the backend sends each
	// command once, and reads a lock back when a reply was lost; the Lock
	// decides every resend (waits, releases, keep-alives, the clean-up of
	// failed attempts), so that one call's sends are bounded in one place.
	//
	// Deprecated: the Lock retries.
	Retries int

	// CallTimeout bounds each call to the store: one acquire, release or
	// extend, with its read-backs, returns within CallTimeout
	// (or ctx's deadline, if earlier) plus a few milliseconds, with an
	// error wrapping lock.ErrUnavailable when the store did not answer in
	// time. A client given to New cannot be interrupted: a call through it
	// may run past the bound by one command. Zero means DefaultCallTimeout.
	CallTimeout time.Duration

	// MaxKeySize is the longest key sent to the server, at most 250. Keys
	// that would be longer (or that memcached cannot carry) are sent as a
	// hash. Zero means DefaultMaxKeySize.
	MaxKeySize int

	// MaxExpiration is the longest expiration the server is asked for. The
	// longest ttl accepted is MaxExpiration minus 3s, the margin that keeps
	// a lock from expiring early on memcached's whole-second clock. Zero
	// means DefaultMaxExpiration, memcached's own limit, which is also the
	// most it may be.
	MaxExpiration time.Duration

	// Fence makes every acquisition hand out a fencing token (see
	// lock.Lease.Fence and the package doc, # Fencing), from a counter
	// kept beside each lock key and incremented in the round trip of the
	// acquire. Only Locks made by Dial (and Open) can: New with Fence
	// fails, since gomemcache cannot read the server's clock, which brings
	// a lost counter back ahead.
	Fence bool

	// The fields below configure the client that Dial (and Open) make. New
	// ignores them: the caller's client keeps its own settings.

	// Timeout bounds dialling a connection, and the wait of each command
	// for its reply: a server that takes longer is deemed stuck, and the
	// connection is closed, failing the commands it carries (in transit:
	// the Lock retries them as it does any). Zero means DefaultTimeout.
	Timeout time.Duration

	// PoolSize is the most connections open to each server at once. They
	// are dialled as concurrent calls need them and kept until Close; each
	// carries many commands at once (memcached answers a connection's
	// commands in order), so a burst of calls is queued on them, never
	// refused. Zero means DefaultPoolSize.
	PoolSize int

	// TLS, when not nil, makes the client connect with TLS (memcached
	// started with --enable-ssl). A nil ServerName is filled in from each
	// server's host name.
	TLS *tls.Config
}

// config is Options with the defaults applied and checked.
type config struct {
	keys        keyMapper
	callTimeout time.Duration
	maxExp      int32 // seconds
	fence       bool
	lock        lock.Options
}

func (o *Options) config() (config, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	c := config{callTimeout: opts.CallTimeout, fence: opts.Fence}
	switch {
	case c.callTimeout == 0:
		c.callTimeout = DefaultCallTimeout
	case c.callTimeout < 0:
		return c, fmt.Errorf("call_timeout %v is negative", opts.CallTimeout)
	}
	if opts.Timeout < 0 {
		return c, fmt.Errorf("timeout %v is negative", opts.Timeout)
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
	if opts.MaxExpiration < 4*time.Second || opts.MaxExpiration > DefaultMaxExpiration {
		return c, fmt.Errorf("max_expiration %v is outside 4s..%v (longer expirations are absolute times to memcached)", opts.MaxExpiration, DefaultMaxExpiration)
	}
	c.maxExp = int32(opts.MaxExpiration / time.Second)
	c.lock = opts.Options
	limit := time.Duration(c.maxExp-3) * time.Second
	switch {
	case c.lock.MaxTTL < 0:
		return c, fmt.Errorf("max_ttl %v is negative", c.lock.MaxTTL)
	case c.lock.MaxTTL == 0:
		c.lock.MaxTTL = limit
	case c.lock.MaxTTL > limit:
		return c, fmt.Errorf("max_ttl %v is above %v, max_expiration less the 3s that keep a lock from expiring early", c.lock.MaxTTL, limit)
	}
	return c, nil
}

// New returns a Lock that keeps its locks on the servers of client, through
// memcached's classic text protocol (any memcached from 1.4 on). The client
// stays the caller's: it is used concurrently, its settings are not
// changed, and the Lock's Close does not close it. New fails only on invalid
// opts.
//
// A *memcache.Client takes no context and sends no meta commands, so a
// Lock made by New is slower and less punctual than one made by Dial:
// releases and extends take two round trips instead of one, and ctx (or
// Options.CallTimeout) is only checked between commands: a command once
// sent runs until it is answered or the client's Timeout passes (twice,
// when it must dial first), so a call may return that long after its ctx is
// done. The two kinds of Lock interoperate: given the same servers (see
// [Servers]), prefix and max_key_size, they store the same keys and values
// and exclude each other. A Lock made by New gives no fencing tokens:
// Options.Fence is an error.
func New(client *memcache.Client, opts *Options) (lock.Lock, error) {
	if client == nil {
		return nil, errors.New("memcached: nil client")
	}
	c, err := opts.config()
	if err != nil {
		return nil, fmt.Errorf("memcached: %w", err)
	}
	if c.fence {
		return nil, errors.New("memcached: fencing tokens need the meta protocol: use Dial or a memcached:// URL, not New (a gomemcache client cannot read the server's clock, which a lost fence counter is restored from)")
	}
	b := &classic{mc: client}
	b.locks = locks{p: b, cfg: c, wakes: openScope(clientScope(client))}
	return lock.New(b, &c.lock), nil
}

// Dial returns a Lock on the memcached servers at addrs ("host:port", or the
// path of a Unix socket; keys are spread across several servers, not
// replicated), with a client of its own that speaks memcached's meta
// protocol (memcached 1.6 or later) and that the Lock's Close closes. The
// servers are sorted, so that the order in which a process lists them does
// not change where a key is stored, and dialled by name. Dial checks that
// every host resolves and every server answers meta commands before ctx is
// done.
func Dial(ctx context.Context, addrs []string, opts *Options) (lock.Lock, error) {
	return dial(ctx, addrs, opts, nil)
}

// dialFunc dials one connection to a server.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// dial is Dial with the connections made by d (nil: net.Dialer), for tests
// that watch the connections.
func dial(ctx context.Context, addrs []string, opts *Options, d dialFunc) (lock.Lock, error) {
	if opts == nil {
		opts = &Options{}
	}
	c, err := opts.config()
	if err != nil {
		return nil, fmt.Errorf("memcached: %w", err)
	}
	servers, err := mc.NewServers(ctx, addrs)
	if err != nil {
		return nil, fmt.Errorf("memcached: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	size := opts.PoolSize
	if size <= 0 {
		size = DefaultPoolSize
	}
	if d == nil {
		d = (&net.Dialer{}).DialContext
	}
	if opts.TLS != nil {
		d = tlsDialer(opts.TLS, d)
	}
	client := mc.New(servers, mc.Config{Dial: d, Timeout: timeout, MaxConns: size})
	b := &meta{mc: client}
	b.locks = locks{p: b, cfg: c}
	if err := b.ping(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("memcached: %w%s", err, tlsHint(opts.TLS != nil, err))
	}
	b.wakes = openScope(selectorScope(servers))
	if c.fence {
		return lock.New(fencedMeta{b}, &c.lock), nil
	}
	return lock.New(b, &c.lock), nil
}

// tlsHint returns a hint for a ping that failed as a TLS mismatch does: a
// TLS client to a plain-text server gets a reply that is no handshake; a
// plain client to a TLS-only server sees the connection closed.
func tlsHint(useTLS bool, err error) string {
	var re tls.RecordHeaderError
	switch {
	case useTLS && errors.As(err, &re):
		return " (if the server speaks plain text, leave out tls=true)"
	case !useTLS && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		return " (if the server speaks TLS only, add tls=true)"
	}
	return "" // a timeout says nothing of TLS: a silent server times out either way
}

// tlsDialer returns d with a TLS handshake after it, checking the server's
// certificate against the host name dialled unless cfg names a server.
func tlsDialer(cfg *tls.Config, d dialFunc) dialFunc {
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
		raw, err := d(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, c)
		if err := conn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

// expiration returns the expiration, in whole seconds, that keeps a lock of
// ttl alive at least ttl: ttl rounded up, plus 2. memcached's clock is a
// count of whole seconds, read from the monotonic clock by a timer every
// second; an item stored with expiration n expires when the count has
// grown by n. Between two reads the count lags, and since the timer
// drifts (by about 0.5–1 ms a tick), now and then two reads straddle two
// second boundaries and the count grows by 2 at once: an item stored in
// the second before such a read, with expiration n, lives only n-2
// seconds or a little more, where otherwise it lives more than n-1.
func expiration(ttl time.Duration) int32 {
	return int32((ttl+time.Second-1)/time.Second) + 2
}

// maxChanges bounds the re-reads of an item that changed under the
// compare-and-swap.
const maxChanges = 3

// call is the time frame of one call to the store: it ends when the
// caller's ctx is done or at deadline, the earlier of ctx's deadline and
// CallTimeout from the start of the call. Its ctx ends with it.
type call struct {
	ctx      context.Context // ends at deadline; the commands run within it
	caller   context.Context
	deadline time.Time
	own      bool // deadline is CallTimeout's, not the caller's
	cancel   context.CancelFunc
}

func newCall(ctx context.Context, timeout time.Duration) call {
	c := call{ctx: ctx, caller: ctx, deadline: time.Now().Add(timeout), own: true}
	if d, ok := ctx.Deadline(); ok && d.Before(c.deadline) {
		c.deadline, c.own = d, false
		return c
	}
	c.ctx, c.cancel = context.WithDeadline(ctx, c.deadline)
	return c
}

// end releases the call's timer.
func (c *call) end() {
	if c.cancel != nil {
		c.cancel()
	}
}

// check returns an error when the call must end: ctx's error if ctx is
// done, or last (the error of the last attempt) wrapped as unavailable when
// CallTimeout has passed.
func (c *call) check(last error) error {
	if err := c.caller.Err(); err != nil {
		return ctxError(err, last)
	}
	if !time.Now().Before(c.deadline) {
		return c.expired(last)
	}
	return nil
}

// expired is the error of a call whose deadline has passed.
func (c *call) expired(last error) error {
	if !c.own {
		return ctxError(context.DeadlineExceeded, last)
	}
	if last == nil {
		last = os.ErrDeadlineExceeded
	}
	return fmt.Errorf("memcached: %w: no answer within the call timeout: %w", lock.ErrUnavailable, last)
}

// cut maps err, the error of I/O that ended at the call's deadline or on
// the caller's ctx, to the error of the call; other errors it returns as
// they are.
func (c *call) cut(err error) error {
	switch {
	case c.caller.Err() != nil:
		return ctxError(c.caller.Err(), err)
	case !c.own && !time.Now().Before(c.deadline):
		return ctxError(context.DeadlineExceeded, err)
	case c.ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		// The call's own deadline, not the caller's: no reply in time,
		// which c.check reports as unavailable.
		return os.ErrDeadlineExceeded
	}
	return err
}

// ctxError is the error of a call that ctx ended, wrapping what the store
// last said, if anything.
func ctxError(cerr, last error) error {
	if last == nil || errors.Is(last, cerr) {
		return fmt.Errorf("memcached: %w", cerr)
	}
	return fmt.Errorf("memcached: %w (after: %w)", cerr, last)
}

// unavailable wraps an error in transit for the Lock, which retries such
// errors in waits, releases and keep-alives.
func unavailable(err error) error {
	if errors.Is(err, lock.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("memcached: %w: %w", lock.ErrUnavailable, err)
}

// settleError is the error of a command of a lock that failed: in transit
// (as the protocol's inTransit tells) it wraps lock.ErrUnavailable.
func settleError(inTransit func(error) bool, err error) error {
	if inTransit(err) {
		return unavailable(err)
	}
	return wrap(err)
}

// Servers returns the memcache.ServerSelector that Dial and URLs use, for a
// *memcache.Client given to New (memcache.NewFromSelector) that must agree
// with them on where each key is stored. addrs are "host:port", or paths of
// Unix sockets; each host must resolve within ctx.
//
// It picks a key's server as gomemcache's ServerList does (the key's CRC-32
// modulo the number of servers), but differs from it in two ways that
// matter to a lock:
//
//   - the servers are sorted, so that every process sends a key to the same
//     server whatever order its URL lists them in (two orders would let two
//     owners hold one lock, each on its own server);
//   - each server is dialled by the name it was given, not by the address
//     it resolved to once, so that TLS checks the certificate against the
//     host name, and a server that moves to another address is followed.
func Servers(ctx context.Context, addrs ...string) (memcache.ServerSelector, error) {
	return mc.NewServers(ctx, addrs)
}
