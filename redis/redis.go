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

	// MinReplicas, when above zero, makes an acquisition, and an extend,
	// count only once that many replicas have acknowledged it: each is
	// followed, on the same connection and in the same round trip, by
	// WAIT MinReplicas ReplicaTimeout. An acquisition that fewer replicas
	// acknowledged is released and fails with an error matching
	// ErrNotReplicated and lock.ErrUnavailable; such an extend fails the
	// same way, and a keep-alive retries it until the lease's deadline.
	// The package doc (# Replicas) says what this guarantees, and what it
	// does not.
	MinReplicas int

	// ReplicaTimeout is how long WAIT waits for MinReplicas replicas; zero
	// means DefaultReplicaTimeout. It must be shorter than the client's
	// read timeout, which bounds the reply of the pipeline that carries it.
	ReplicaTimeout time.Duration
}

// DefaultReplicaTimeout is Options.ReplicaTimeout's default: how long an
// acquire or an extend waits for its replicas' acknowledgements.
const DefaultReplicaTimeout = 100 * time.Millisecond

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
	if err := checkReplicas(opts, readTimeout(client)); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return newLock(client, opts, false), nil
}

func newLock(client goredis.UniversalClient, opts *Options, owned bool) lock.Lock {
	b := &backend{c: client, prefix: opts.prefix(), owned: owned, watcher: newWatcher(client), plainFirst: sendsOnce(client)}
	if opts != nil && opts.MinReplicas > 0 {
		b.replicas, b.replicaTimeout = opts.MinReplicas, opts.replicaTimeout()
	}
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

	releaseScript = newScript(releaseSrc)
	extendScript  = newScript(extendSrc)
	acquireScript = newScript(acquireSrc)
	fencedScript  = newScript(fencedSrc)
	waitScript    = newScript(waitSrc)
)

// script is a Lua script and its source, which run sends when the server
// does not know the script's SHA yet.
type script struct {
	*goredis.Script
	src string
}

func newScript(src string) script { return script{goredis.NewScript(src), src} }

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

	// replicas and replicaTimeout: Options.MinReplicas and ReplicaTimeout
	// (see process); replicas 0: no WAIT.
	replicas       int
	replicaTimeout time.Duration
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

// wrap is the error of a call that failed. Two kinds of failure are not
// answers about the lock, though go-redis does not count them as network
// errors, and wrap marks them with lock.ErrUnavailable, so that a
// keep-alive retries them until the lease's deadline and a wait tries
// again rather than giving up:
//   - waiting for a connection of go-redis's pool in vain (its pool
//     timeout: every connection busy, as behind a stalled server);
//   - a server that does not serve writes now: a primary demoted in a
//     failover (READONLY), a replica that lost its primary (MASTERDOWN), a
//     server loading its data (LOADING), a cluster moving or missing a slot
//     (TRYAGAIN, CLUSTERDOWN). The command did not run; once the client
//     reaches the new primary, it may.
func wrap(err error) error {
	if errors.Is(err, goredis.ErrPoolTimeout) || errors.Is(err, goredis.ErrPoolExhausted) || switching(err) {
		return fmt.Errorf("redis: %w: %w", lock.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %w", err)
}

// switching reports whether err is the reply of a server that does not
// serve writes at the moment (see wrap).
func switching(err error) bool {
	for _, prefix := range []string{"READONLY", "MASTERDOWN", "LOADING", "TRYAGAIN", "CLUSTERDOWN"} {
		if goredis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
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
	if err != nil {
		return false, b.unreplicated(ctx, key, token, err)
	}
	return ok, nil
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
	cmd := goredis.NewStatusCmd(ctx, "set", k, token, "px", ms, "nx")
	err := b.process(ctx, k, cmd, func() bool { return cmd.Err() == nil })
	res := cmd.Val()
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
// in transit while ctx lasts (see Acquire), and wraps the error. An
// acquisition that landed but too few replicas acknowledged is not resent:
// the caller releases it (see unreplicated).
func resendOnce(ctx context.Context, try func() error) error {
	err := try()
	switch {
	case err == nil:
		return nil
	case isReply(err), ctx.Err() != nil, errors.Is(err, ErrNotReplicated):
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
		return b.runOne(ctx, acquireScript, k, token, ms)
	}
	cmd := goredis.NewStringCmd(ctx, "set", k, token, "px", ms, "nx", "get")
	err := b.process(ctx, k, cmd, func() bool { return errors.Is(cmd.Err(), goredis.Nil) })
	switch {
	case errors.Is(err, goredis.Nil):
		return true, nil
	case err == nil && cmd.Val() == token:
		return b.runOne(ctx, extendScript, k, token, ms)
	case err == nil:
		return false, nil
	case goredis.HasErrorPrefix(err, "syntax error"):
		b.noSetNXGet.Store(true)
		return b.runOne(ctx, acquireScript, k, token, ms)
	}
	return false, err
}

// Release runs release.lua, a compare-and-delete: one round trip (two the
// first time a server meets the script). When go-redis retries a release
// whose first attempt landed, the retry finds the key gone and the release
// is reported as not held: a false alarm, never a release of another
// owner's lock.
func (b *backend) Release(ctx context.Context, key, token string) (bool, error) {
	n, err := b.run(ctx, releaseScript, []string{b.prefix + key}, nil, token)
	if err != nil {
		return false, wrap(err)
	}
	return n == 1, nil
}

// Extend runs extend.lua, a compare-and-pexpire: one round trip (two the
// first time a server meets the script). It is idempotent, so a retried
// attempt answers as the first.
func (b *backend) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, err := b.runOne(ctx, extendScript, b.prefix+key, token, millis(ttl))
	if err != nil {
		return false, wrap(err)
	}
	return ok, nil
}

// runOne runs s, a script that returns 1 when it stored the lock, on the
// key k, and reports whether it did.
func (b *backend) runOne(ctx context.Context, s script, k string, args ...any) (bool, error) {
	n, err := b.run(ctx, s, []string{k}, func(n int64) bool { return n == 1 }, args...)
	return n == 1, err
}

// run runs s on keys through process, which waits for replicas after a
// reply that stored (n such that stored(n); stored nil: never), and returns
// its integer reply. The scripts run by SHA (EVALSHA), and by their source
// (EVAL) when the server does not know them yet.
func (b *backend) run(ctx context.Context, s script, keys []string, stored func(int64) bool, args ...any) (int64, error) {
	n, err := b.eval(ctx, "evalsha", s.Hash(), keys, stored, args)
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		n, err = b.eval(ctx, "eval", s.src, keys, stored, args)
	}
	return n, err
}

func (b *backend) eval(ctx context.Context, how, script string, keys []string, stored func(int64) bool, args []any) (int64, error) {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, how, script, len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmd := goredis.NewCmd(ctx, append(cmdArgs, args...)...)
	var wrote func() bool
	if stored != nil {
		wrote = func() bool { n, err := cmd.Int64(); return err == nil && stored(n) }
	}
	if err := b.process(ctx, keys[0], cmd, wrote); err != nil {
		return 0, err
	}
	return cmd.Int64()
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
		n, err = b.run(ctx, waitScript, []string{k}, func(n int64) bool { return n == -2 }, token, millis(ttl))
		return err
	})
	switch {
	case err != nil:
		return false, 0, b.unreplicated(ctx, key, token, err)
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
		n, err = b.run(ctx, fencedScript, keys, func(n int64) bool { return n > 0 }, token, ms, counterLife.Milliseconds())
		return err
	})
	if err != nil {
		return false, 0, b.unreplicated(ctx, key, token, err)
	}
	if n <= 0 {
		return false, 0, nil
	}
	return true, uint64(n), nil
}

// ExtendBatch implements driver.BatchExtender: one pipeline of extend.lua
// by SHA (split by hash slot on a cluster), followed by WAIT with
// Options.MinReplicas (then not on a cluster, where each extend goes on its
// own, to its key's primary). An extend that failed in transit reports its
// error, for the Lock to retry as it retries any extend; one the server
// refused because it did not know the script yet goes through Extend,
// which sends the script's source.
func (b *backend) ExtendBatch(ctx context.Context, batch []driver.Extension) {
	var alone []int
	if _, cluster := b.c.(*goredis.ClusterClient); cluster && b.replicas > 0 {
		alone = make([]int, len(batch))
		for i := range alone {
			alone[i] = i
		}
	} else {
		alone = b.extendPipelined(ctx, batch)
	}
	bounded.Each(alone, maxAloneExtends, func(i int) {
		x := &batch[i]
		x.OK, x.Err = b.Extend(ctx, x.Key, x.Token, x.TTL)
	})
}

// extendPipelined sends batch as one pipeline, followed by WAIT when the
// Lock asks for replicas, sets the outcome of each extend, and returns the
// indexes of those the server did not know the script for.
func (b *backend) extendPipelined(ctx context.Context, batch []driver.Extension) (unknown []int) {
	cmds := make([]*goredis.Cmd, len(batch))
	var wait *goredis.IntCmd
	_, _ = b.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range batch {
			x := &batch[i]
			cmds[i] = extendScript.EvalSha(ctx, p, []string{b.prefix + x.Key}, x.Token, millis(x.TTL))
		}
		if b.replicas > 0 {
			wait = b.wait(ctx, p)
		}
		return nil
	})
	for i, cmd := range cmds {
		n, err := cmd.Int64()
		switch {
		case goredis.HasErrorPrefix(err, "NOSCRIPT"):
			unknown = append(unknown, i)
		case err != nil:
			batch[i].Err = wrap(err)
		case n == 1 && wait != nil:
			if err := b.acknowledged(wait); err != nil {
				batch[i].Err = wrap(err)
				continue
			}
			batch[i].OK = true
		default:
			batch[i].OK = n == 1
		}
	}
	return unknown
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
