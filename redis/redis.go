package redis

import (
	"context"
	_ "embed" // the Lua scripts
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/driver"
	"github.com/distlock/lock/internal/bounded"
)

// Schemes of this backend's URLs.
const (
	// Scheme is the URL scheme of plain TCP connections.
	Scheme = "redis"

	// SchemeTLS is the URL scheme of TLS connections.
	SchemeTLS = "rediss"
)

// DefaultPrefix is prepended to every lock key when Options.Prefix is empty.
const DefaultPrefix = "lock:"

// Options configures the redis backend. The zero value, and a nil *Options,
// mean the documented defaults.
type Options struct {
	// Options holds the settings every backend shares: RetryInterval,
	// MaxTTL, CloseTimeout and Logger. redis itself accepts any ttl a
	// time.Duration can hold; MaxTTL's default is lock.DefaultMaxTTL, the
	// same limit as the other backends, so code moves between them
	// unchanged.
	lock.Options

	// Prefix is prepended to every lock key, so lock keys do not collide
	// with other data in the database. Empty means DefaultPrefix.
	Prefix string

	// Fence makes every acquisition hand out a fencing token (see
	// lock.Lease.Fence), incremented in the same script as the acquire, so
	// the acquire stays one round trip. It costs one more small key per
	// locked key, kept a day after its last acquisition. The package doc
	// states what the tokens guarantee.
	Fence bool
}

func (o *Options) prefix() string {
	if o == nil || o.Prefix == "" {
		return DefaultPrefix
	}
	return o.Prefix
}

func (o *Options) lockOptions() *lock.Options {
	if o == nil {
		return nil
	}
	return &o.Options
}

// New returns a Lock that keeps its locks in the database of client: a
// *goredis.Client (single node, or sentinel failover through
// goredis.NewFailoverClient) or a *goredis.ClusterClient. The client stays the
// caller's: it is used concurrently, its settings are not changed, and the
// Lock's Close does not close it. New does no I/O; it fails on a nil client and
// on a *goredis.Ring, which moves keys between shards. Set
// ContextTimeoutEnabled in the client's options so that a ctx ends a command in
// flight (see the package doc).
func New(client goredis.UniversalClient, opts *Options) (lock.Lock, error) {
	switch client.(type) {
	case nil:
		return nil, errors.New("redis: nil client")
	case *goredis.Ring:
		return nil, errors.New("redis: a Ring moves keys to another shard when it finds one down, and two owners could then hold a lock: use a Client or a ClusterClient")
	}
	return newLock(client, opts, false), nil
}

func newLock(client goredis.UniversalClient, opts *Options, owned bool) lock.Lock {
	b := &backend{c: client, prefix: opts.prefix(), owned: owned, watcher: newWatcher(client), plainFirst: sendsOnce(client)}
	if opts != nil && opts.Fence {
		return lock.New(&fencedBackend{b}, opts.lockOptions())
	}
	return lock.New(b, opts.lockOptions())
}

// The scripts; see run.
var (
	//go:embed release.lua
	releaseSrc string
	//go:embed extend.lua
	extendSrc string
	//go:embed acquire.lua
	acquireSrc string
	//go:embed fenced.lua
	fencedSrc string
	//go:embed wait.lua
	waitSrc string

	releaseScript = goredis.NewScript(releaseSrc)
	extendScript  = goredis.NewScript(extendSrc)
	acquireScript = goredis.NewScript(acquireSrc)
	fencedScript  = goredis.NewScript(fencedSrc)
	waitScript    = goredis.NewScript(waitSrc)
)

// backend implements driver.Backend on redis. It is safe for concurrent use,
// as the go-redis clients are.
type backend struct {
	c      goredis.UniversalClient
	prefix string
	owned  bool // c was made from a URL: Close closes it

	watcher *watcher

	// plainFirst: the client never sends a command twice itself, so a
	// first attempt can be a plain SET NX (see acquireFresh), unless one
	// failed in transit recently: plainAfter is then the monotonic time
	// (since clockBase) until which first attempts carry GET.
	plainFirst bool
	plainAfter atomic.Int64

	// noSetNXGet is set once the server refused SET with both NX and GET
	// (redis before 7.0): acquire then runs acquire.lua instead.
	noSetNXGet atomic.Bool
}

// millis returns the expiry, in whole milliseconds, sent for ttl: ttl
// rounded up, never down, plus one millisecond of margin for redis's clock,
// kept in whole milliseconds. redis counts the lifetime from when it runs
// the command, after the call began, so the lock lives at least ttl from
// the start of the call.
func millis(ttl time.Duration) int64 {
	ms := int64(ttl / time.Millisecond) // rounded up below: ttl+1ms-1 could overflow
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return ms + 1
}

// wrap is the error of a call that failed. Waiting for a connection of
// go-redis's pool in vain (its pool timeout: every connection busy, as
// behind a stalled server) is a failure in transit, not an answer: it
// wraps lock.ErrUnavailable, so that a keep-alive retries it until the
// lease's deadline rather than giving the lease up (the Lock counts
// network errors, not this one, as in transit on its own).
func wrap(err error) error {
	if errors.Is(err, goredis.ErrPoolTimeout) || errors.Is(err, goredis.ErrPoolExhausted) {
		return fmt.Errorf("redis: %w: %w", lock.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %w", err)
}

// isReply reports whether err is an error reply of the server, which is a
// definite answer, rather than a failure in transit after which the outcome
// of a command is unknown.
func isReply(err error) bool {
	var re goredis.Error
	return errors.As(err, &re)
}

// Acquire makes one attempt (see acquire) and answers an attempt that failed
// in transit, whose outcome is unknown, by sending it again, with the same
// token: if the first landed, the second finds the token and reports the
// lock held (its ttl restarted); if the key is free, the second takes it,
// and the first, should it land late while the lock is held, does nothing;
// if another owner holds it, it is not ours. (A mere check would answer
// "free" to a SET still on its way, and leave it to land later, held by no
// one.) If the second attempt fails too, the error is returned and nothing
// is reported held.
//
// When ctx is done there is no time for the check: the error is returned,
// and the Lock releases, in the background, the lock the attempt may have
// stored (see driver.Backend).
func (b *backend) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	k, ms := b.prefix+key, millis(ttl)
	var (
		ok    bool
		tries int
	)
	err := resendOnce(ctx, func() (err error) {
		tries++
		if tries == 1 && b.plainFirst && b.plainAllowed() {
			ok, err = b.acquireFresh(ctx, k, token, ms)
			if err != nil && !isReply(err) {
				// It may land late: a wait's next attempts, with the same
				// token, must recognise it (SET … GET), for a while.
				b.plainAfter.Store(int64(time.Since(clockBase) + ttl + time.Minute))
			}
		} else {
			ok, err = b.acquire(ctx, k, token, ms)
		}
		return err
	})
	return ok && err == nil, err
}

// clockBase is the origin of the monotonic times the backend keeps.
var clockBase = time.Now()

// plainAllowed reports whether a first attempt may be a plain SET NX: not
// while a plain one that failed in transit could still land (plainAfter).
func (b *backend) plainAllowed() bool {
	after := b.plainAfter.Load()
	return after == 0 || int64(time.Since(clockBase)) > after
}

// acquireFresh runs SET key token PX ms NX, for a first attempt over a
// client that sends each command once: the token is fresh, so a key found
// held is another owner's, and the reply is OK when the lock is ours, not
// the nil of SET … GET, which go-redis handles as an error, at a cost of
// about twenty allocations.
func (b *backend) acquireFresh(ctx context.Context, k, token string, ms int64) (bool, error) {
	res, err := b.c.SetArgs(ctx, k, token, goredis.SetArgs{Mode: "NX", TTL: time.Duration(ms) * time.Millisecond}).Result()
	switch {
	case err == nil && res == "OK":
		return true, nil
	case err == nil:
		return false, fmt.Errorf("SET NX answered %q, not OK", res)
	case errors.Is(err, goredis.Nil):
		return false, nil
	}
	return false, err
}

// sendsOnce reports whether client sends each command exactly once: a
// Client or a failover Client with MaxRetries -1, as lock.Open makes them
// unless the URL asks for retries. (NewClient turns -1 into 0; below -1, a
// go-redis client sends nothing at all.)
func sendsOnce(client goredis.UniversalClient) bool {
	c, ok := client.(*goredis.Client)
	return ok && c.Options().MaxRetries == 0
}

// resendOnce runs an acquire, with its token, and once more when it fails
// in transit while ctx lasts (see Acquire), and wraps the error.
func resendOnce(ctx context.Context, try func() error) error {
	err := try()
	switch {
	case err == nil:
		return nil
	case isReply(err), ctx.Err() != nil:
		return wrap(err)
	}
	if cerr := try(); cerr != nil {
		return wrap(fmt.Errorf("acquire failed in transit (%w), and checking its outcome failed: %w", err, cerr))
	}
	return nil
}

// acquire runs SET key token PX ms NX GET: one round trip. The GET option
// makes the answer unambiguous: redis replies with the value the key held
// before, nil when the key was free and is now ours. go-redis retries a
// command whose connection failed; when an earlier attempt had stored the
// token, the retry finds it there, and the lock is held: its ttl is
// restarted, a second round trip on this rare path only. (A plain SET NX
// would reply nil to that retry, and leave the lock orphaned.)
//
// A server before redis 7.0 refuses NX with GET; after the first refusal,
// acquire runs acquire.lua instead, which does the same in one round trip.
func (b *backend) acquire(ctx context.Context, k, token string, ms int64) (bool, error) {
	if b.noSetNXGet.Load() {
		return b.run(ctx, acquireScript, k, token, ms)
	}
	cmd := goredis.NewStringCmd(ctx, "set", k, token, "px", ms, "nx", "get")
	err := b.c.Process(ctx, cmd)
	switch {
	case errors.Is(err, goredis.Nil):
		return true, nil
	case err == nil && cmd.Val() == token:
		return b.run(ctx, extendScript, k, token, ms)
	case err == nil:
		return false, nil
	case goredis.HasErrorPrefix(err, "syntax error"):
		b.noSetNXGet.Store(true)
		return b.run(ctx, acquireScript, k, token, ms)
	}
	return false, err
}

// Release runs release.lua, a compare-and-delete: one round trip (two the
// first time a server meets the script). When go-redis retries a release
// whose first attempt landed, the retry finds the key gone and the release
// is reported as not held: a false alarm, never a release of another
// owner's lock.
func (b *backend) Release(ctx context.Context, key, token string) (bool, error) {
	ok, err := b.run(ctx, releaseScript, b.prefix+key, token)
	if err != nil {
		return false, wrap(err)
	}
	return ok, nil
}

// Extend runs extend.lua, a compare-and-pexpire: one round trip (two the
// first time a server meets the script). It is idempotent, so a retried
// attempt answers as the first.
func (b *backend) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, err := b.run(ctx, extendScript, b.prefix+key, token, millis(ttl))
	if err != nil {
		return false, wrap(err)
	}
	return ok, nil
}

// run runs script on the key k and reports whether it returned 1. The
// scripts run by SHA (EVALSHA), and by their source (EVAL) when the server
// does not know them yet.
func (b *backend) run(ctx context.Context, script *goredis.Script, k string, args ...any) (bool, error) {
	n, err := script.Run(ctx, b.c, []string{k}, args...).Int64()
	return n == 1, err
}

// AcquireOrTTL implements driver.TTLReporter: once the waits on key are
// subscribed to its releases, an attempt runs wait.lua, which acquires as
// Acquire does or returns the holder's remaining lifetime, in one round
// trip; until then it is Acquire, and tells nothing. A failure in transit
// is resent once, with the same token, as by Acquire.
func (b *backend) AcquireOrTTL(ctx context.Context, key, token string, ttl time.Duration) (bool, time.Duration, error) {
	k := b.prefix + key
	if !b.watcher.subscribed(k) {
		ok, err := b.Acquire(ctx, key, token, ttl)
		return ok, 0, err
	}
	var n int64
	err := resendOnce(ctx, func() (err error) {
		n, err = waitScript.Run(ctx, b.c, []string{k}, token, millis(ttl)).Int64()
		return err
	})
	switch {
	case err != nil:
		return false, 0, err
	case n == -2:
		return true, 0, nil
	case n > 0:
		return false, time.Duration(n) * time.Millisecond, nil
	}
	return false, 0, nil
}

// Watch implements driver.Watcher: waits wake on the release that
// release.lua publishes.
func (b *backend) Watch(key string) <-chan struct{} { return b.watcher.watch(b.prefix + key) }

func (b *backend) Close() error {
	b.watcher.close()
	if b.owned {
		return b.c.Close()
	}
	return nil
}

// fencedBackend is a backend whose acquisitions hand out fencing tokens.
type fencedBackend struct{ *backend }

// counterLife is how long a key's fencing counter outlives its last
// acquisition. A lost counter is recreated from the server's clock, so the
// counter only needs to outlive a clock that steps back.
const counterLife = 24 * time.Hour

// counterKey returns the key of k's fencing counter, in k's cluster slot:
// a key's slot is that of its hash tag (the text between its first '{' and
// the next '}', if not empty), else of the whole key.
func counterKey(k string) string {
	if i := strings.IndexByte(k, '{'); i >= 0 {
		if j := strings.IndexByte(k[i+1:], '}'); j > 0 {
			return k + ":fence" // the same hash tag
		}
	}
	return "{" + k + "}:fence"
}

func (b *fencedBackend) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, _, err := b.AcquireFenced(ctx, key, token, ttl)
	return ok, err
}

// AcquireFenced runs fenced.lua: the acquire and the counter in one round
// trip, resent once as Acquire is.
func (b *fencedBackend) AcquireFenced(ctx context.Context, key, token string, ttl time.Duration) (bool, uint64, error) {
	k, ms := b.prefix+key, millis(ttl)
	keys := []string{k, counterKey(k)}
	var n int64
	err := resendOnce(ctx, func() (err error) {
		n, err = fencedScript.Run(ctx, b.c, keys, token, ms, counterLife.Milliseconds()).Int64()
		return err
	})
	if err != nil || n <= 0 {
		return false, 0, err
	}
	return true, uint64(n), nil
}

// ExtendBatch implements driver.BatchExtender: one pipeline of extend.lua
// by SHA (split by hash slot on a cluster). An extend whose reply is not a
// definite answer (the server did not know the script yet, a failure in
// transit) goes through Extend on its own.
func (b *backend) ExtendBatch(ctx context.Context, batch []driver.Extension) {
	cmds := make([]*goredis.Cmd, len(batch))
	_, _ = b.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range batch {
			x := &batch[i]
			cmds[i] = extendScript.EvalSha(ctx, p, []string{b.prefix + x.Key}, x.Token, millis(x.TTL))
		}
		return nil
	})
	var alone []int
	for i, cmd := range cmds {
		n, err := cmd.Int64()
		if err != nil {
			alone = append(alone, i)
			continue
		}
		batch[i].OK = n == 1
	}
	bounded.Each(alone, maxAloneExtends, func(i int) {
		x := &batch[i]
		x.OK, x.Err = b.Extend(ctx, x.Key, x.Token, x.TTL)
	})
}

// maxAloneExtends bounds the extends of a batch sent on their own at once.
const maxAloneExtends = 256

// Scope implements driver.Scoper: the Locks of a process over the same
// server and database (or the same client, for a sentinel or a cluster)
// and prefix share their waits.
func (b *backend) Scope() string {
	if c, ok := b.c.(*goredis.Client); ok {
		if o := c.Options(); o.Addr != "FailoverClient" { // go-redis's name for a sentinel client's
			return fmt.Sprintf("redis %s %s/%d %q", o.Network, o.Addr, o.DB, b.prefix)
		}
	}
	return fmt.Sprintf("redis client %p %q", b.c, b.prefix)
}
