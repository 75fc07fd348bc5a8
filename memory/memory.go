package memory

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/urlparam"
)

// Scheme is the URL scheme of this backend.
const Scheme = "memory"

// DefaultSweepInterval is how often a store's janitor removes expired locks
// when Options.SweepInterval is zero.
const DefaultSweepInterval = time.Second

// Options configures a Store. The zero value, and a nil *Options, mean the
// documented defaults.
type Options struct {
	// Options holds the settings every backend shares (RetryInterval,
	// MaxTTL, CloseTimeout, Logger), for the Lock values of Store.Lock and
	// New. Waits on this backend wake at once on a release, so
	// RetryInterval matters only for locks that expire.
	lock.Options

	// Prefix is prepended to every key of the Lock values of Store.Lock and
	// New, so that Lock values with different prefixes on one store do not
	// collide. Empty means none.
	Prefix string

	// Now is the store's clock. Nil means time.Now. Tests that need expiry
	// without sleeping pass a clock they advance themselves; waits still
	// poll on real time.
	Now func() time.Time

	// SweepInterval is how often the janitor removes expired locks while the
	// store holds any and has open Lock values. Zero means
	// DefaultSweepInterval.
	SweepInterval time.Duration
}

// A Store is an in-process lock store: a map under a mutex. Lock values
// from the same Store exclude each other as processes sharing a server do.
// A Store is safe for concurrent use.
type Store struct {
	now    func() time.Time
	opts   lock.Options
	prefix string
	sweep  time.Duration

	mu    sync.Mutex
	items map[string]item
	fence uint64                   // the last fencing token handed out
	watch map[string]chan struct{} // closed at the next release or expiry of key
	refs  int                      // open Lock values
	stop  chan struct{}            // non-nil while the janitor runs
}

type item struct {
	token   string
	expires time.Time
}

// NewStore returns a new, empty store.
func NewStore(opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		// The store's own clock reads only the monotonic clock (which is
		// what comparing two time.Now readings uses anyway), at half the
		// cost of time.Now.
		base := time.Now()
		o.Now = func() time.Time { return base.Add(time.Since(base)) }
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	return &Store{
		now:    o.Now,
		opts:   o.Options,
		prefix: o.Prefix,
		sweep:  o.SweepInterval,
		items:  make(map[string]item),
		watch:  make(map[string]chan struct{}),
	}
}

// New returns a Lock on a new, private store. It is a shorthand for
// NewStore(opts).Lock().
func New(opts *Options) lock.Lock { return NewStore(opts).Lock() }

// Lock returns a new Lock value on s. Each Lock value is a separate owner:
// keys it acquires are held against every other Lock value of s.
func (s *Store) Lock() lock.Lock { return s.lock(&s.opts, s.prefix) }

func (s *Store) lock(opts *lock.Options, prefix string) lock.Lock {
	s.mu.Lock()
	s.refs++
	s.mu.Unlock()
	return lock.New(&backend{s: s, prefix: prefix}, opts)
}

// Len returns the number of locks the store holds, expired ones not yet
// removed included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// held reports whether key is held at now; the caller holds s.mu. An expired
// item is removed, and its watchers woken.
func (s *Store) held(key string, now time.Time) (item, bool) {
	it, ok := s.items[key]
	if !ok {
		return item{}, false
	}
	if now.Before(it.expires) {
		return it, true
	}
	s.remove(key)
	return item{}, false
}

// remove deletes key and wakes its watchers; the caller holds s.mu.
func (s *Store) remove(key string) {
	delete(s.items, key)
	if ch, ok := s.watch[key]; ok {
		close(ch)
		delete(s.watch, key)
	}
}

func (s *Store) acquire(key, token string, ttl time.Duration) (bool, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // after the mutex: waiting for it must not shorten a lock
	if _, ok := s.held(key, now); ok {
		return false, 0
	}
	s.items[key] = item{token: token, expires: now.Add(ttl)}
	s.fence++
	if s.stop == nil && s.refs > 0 {
		s.stop = make(chan struct{})
		go s.janitor(s.stop)
	}
	return true, s.fence
}

func (s *Store) release(key, token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // after the mutex: waiting for it must not shorten a lock
	it, ok := s.held(key, now)
	if !ok || it.token != token {
		return false
	}
	s.remove(key)
	return true
}

func (s *Store) extend(key, token string, ttl time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // after the mutex: waiting for it must not shorten a lock
	it, ok := s.held(key, now)
	if !ok || it.token != token {
		return false
	}
	it.expires = now.Add(ttl)
	s.items[key] = it
	return true
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (s *Store) watchKey(key string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // after the mutex: waiting for it must not shorten a lock
	if _, ok := s.held(key, now); !ok {
		return closedChan
	}
	ch, ok := s.watch[key]
	if !ok {
		ch = make(chan struct{})
		s.watch[key] = ch
	}
	return ch
}

// janitor removes expired items every sweep interval. It runs only while the
// store has items and open Lock values, so an idle store costs nothing.
func (s *Store) janitor(stop chan struct{}) {
	t := time.NewTicker(s.sweep)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := s.now()
		s.mu.Lock()
		for key, it := range s.items {
			if !now.Before(it.expires) {
				s.remove(key)
			}
		}
		if len(s.items) == 0 {
			if s.stop == stop { // not already replaced by a newer janitor
				s.stop = nil
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

func (s *Store) closeRef() {
	s.mu.Lock()
	s.refs--
	if s.refs == 0 && s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
	s.mu.Unlock()
}

// backend is one Lock value's handle on a Store.
type backend struct {
	s      *Store
	prefix string
	once   sync.Once
}

// key returns the store's key for a lock key.
func (b *backend) key(key string) string {
	if b.prefix == "" {
		return key // no allocation on the common path
	}
	return b.prefix + key
}

func (b *backend) Acquire(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, _ := b.s.acquire(b.key(key), token, ttl)
	return ok, nil
}

// AcquireFenced implements driver.Fencer: the fencing tokens of a store
// count its acquisitions, of every key.
func (b *backend) AcquireFenced(_ context.Context, key, token string, ttl time.Duration) (bool, uint64, error) {
	ok, fence := b.s.acquire(b.key(key), token, ttl)
	return ok, fence, nil
}

func (b *backend) Release(_ context.Context, key, token string) (bool, error) {
	return b.s.release(b.key(key), token), nil
}

func (b *backend) Extend(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	return b.s.extend(b.key(key), token, ttl), nil
}

func (b *backend) Watch(key string) <-chan struct{} { return b.s.watchKey(b.key(key)) }

func (b *backend) Close() error {
	b.once.Do(b.s.closeRef)
	return nil
}

// named holds the stores of memory:// URLs, one per name, for the life of the
// process.
var named = struct {
	sync.Mutex
	stores map[string]*Store
}{stores: make(map[string]*Store)}

func init() { lock.Register(Scheme, openURL) }

// openURL opens a memory:// URL; see the package doc, # URLs.
func openURL(_ context.Context, u *url.URL) (lock.Lock, error) {
	if u.Opaque != "" || u.User != nil || u.Port() != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, fmt.Errorf("memory: %w", urlparam.Invalid(errors.New("want memory://[name][?parameters]")))
	}
	var (
		opts   lock.Options
		prefix string
	)
	v, err := urlparam.Values(u)
	if err != nil {
		return nil, fmt.Errorf("memory: %w", urlparam.Invalid(err))
	}
	q := urlparam.New(v)
	q.Common(&prefix, &opts)
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("memory: %w", urlparam.Invalid(err))
	}
	named.Lock()
	s, ok := named.stores[u.Host]
	if !ok {
		s = NewStore(nil)
		named.stores[u.Host] = s
	}
	named.Unlock()
	return s.lock(&opts, prefix), nil
}

// Scope implements driver.Scoper: the Lock values of one Store and prefix
// share their waits.
func (b *backend) Scope() string { return fmt.Sprintf("memory %p %q", b.s, b.prefix) }
