package benchmarks

import (
	"bufio"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/bsm/redislock"
	"github.com/go-redsync/redsync/v4"
	redsyncgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memcached"
	"github.com/distlock/lock/memory"
	lockredis "github.com/distlock/lock/redis"
)

var ctx = context.Background()

// env returns the URL in the variable name, or skips the benchmark.
func env(b *testing.B, name string) string {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		b.Skip(name + " not set")
	}
	return v
}

func open(b *testing.B, raw string) lock.Lock {
	b.Helper()
	l, err := lock.Open(ctx, raw)
	if err != nil {
		b.Fatalf("lock.Open: %v", err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func memcachedClient(b *testing.B) *memcache.Client {
	u, err := url.Parse(env(b, "LOCK_TEST_MEMCACHED_URL"))
	if err != nil {
		b.Fatal(err)
	}
	c := memcache.New(strings.Split(u.Host, ",")...)
	c.MaxIdleConns = 16
	if err := c.Ping(); err != nil {
		b.Fatalf("memcached does not answer: %v", err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func redisClient(b *testing.B) *goredis.Client {
	o, err := goredis.ParseURL(env(b, "LOCK_TEST_REDIS_URL"))
	if err != nil {
		b.Fatal(err)
	}
	c := goredis.NewClient(o)
	if err := c.Ping(ctx).Err(); err != nil {
		b.Fatalf("redis does not answer: %v", err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// lockCycle runs TryAcquire + Release of one key on l.
func lockCycle(b *testing.B, l lock.Lock) {
	key := "bench:" + rand.Text()
	for b.Loop() {
		s, err := l.TryAcquire(ctx, key, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// lockExtend runs Extend on one lease of l.
func lockExtend(b *testing.B, l lock.Lock) {
	s, err := l.TryAcquire(ctx, "bench:extend:"+rand.Text(), time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Release(ctx)
	for b.Loop() {
		if err := s.Extend(ctx, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCycle: acquire and release of one uncontended key.
func BenchmarkCycle(b *testing.B) {
	b.Run("memory", func(b *testing.B) { lockCycle(b, memory.New(nil)) })
	b.Run("memcached/Lock", func(b *testing.B) { lockCycle(b, open(b, env(b, "LOCK_TEST_MEMCACHED_URL"))) })
	b.Run("memcached/New", func(b *testing.B) {
		l, err := memcached.New(memcachedClient(b), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		lockCycle(b, l)
	})
	b.Run("memcached/raw-add-delete", func(b *testing.B) {
		c := memcachedClient(b)
		item := &memcache.Item{Key: "bench:raw:" + rand.Text(), Value: []byte(rand.Text()), Expiration: 61}
		for b.Loop() {
			if err := c.Add(item); err != nil {
				b.Fatal(err)
			}
			if err := c.Delete(item.Key); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redis/Lock", func(b *testing.B) { lockCycle(b, open(b, env(b, "LOCK_TEST_REDIS_URL"))) })
	b.Run("redis/New", func(b *testing.B) {
		l, err := lockredis.New(redisClient(b), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		lockCycle(b, l)
	})
	b.Run("redis/Lock-fenced", func(b *testing.B) {
		l, err := lockredis.New(redisClient(b), &lockredis.Options{Fence: true})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		lockCycle(b, l)
	})
	b.Run("redis/floor", func(b *testing.B) { // SET NX PX + EVALSHA compare-and-delete
		c := redisClient(b)
		del := goredis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)
		key, token := "bench:floor:"+rand.Text(), rand.Text()
		for b.Loop() {
			if ok, err := c.SetNX(ctx, key, token, time.Minute).Result(); err != nil || !ok {
				b.Fatal(ok, err)
			}
			if err := del.Run(ctx, c, []string{key}, token).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redis/raw-setnx-del", func(b *testing.B) {
		c := redisClient(b)
		key, token := "bench:raw:"+rand.Text(), rand.Text()
		for b.Loop() {
			if ok, err := c.SetNX(ctx, key, token, time.Minute).Result(); err != nil || !ok {
				b.Fatal(ok, err)
			}
			if err := c.Del(ctx, key).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redis/redislock", func(b *testing.B) {
		lk := redislock.New(redisClient(b))
		key := "bench:redislock:" + rand.Text()
		for b.Loop() {
			l, err := lk.Obtain(ctx, key, time.Minute, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redis/redsync", func(b *testing.B) {
		rs := redsync.New(redsyncgoredis.NewPool(redisClient(b)))
		m := rs.NewMutex("bench:redsync:"+rand.Text(), redsync.WithExpiry(time.Minute), redsync.WithTries(1))
		for b.Loop() {
			if err := m.LockContext(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := m.UnlockContext(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkExtend: one extend of a held lease.
func BenchmarkExtend(b *testing.B) {
	b.Run("memory", func(b *testing.B) { lockExtend(b, memory.New(nil)) })
	b.Run("memcached/Lock", func(b *testing.B) { lockExtend(b, open(b, env(b, "LOCK_TEST_MEMCACHED_URL"))) })
	b.Run("memcached/raw-touch", func(b *testing.B) {
		c := memcachedClient(b)
		key := "bench:touch:" + rand.Text()
		if err := c.Set(&memcache.Item{Key: key, Value: []byte(rand.Text()), Expiration: 61}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := c.Touch(key, 61); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The least an owner-checked extend can send to memcached 1.6, which
	// has no compare-and-touch: the value again, stored if the cas id
	// still matches, over a bare connection.
	b.Run("memcached/raw-ms-cas", func(b *testing.B) {
		u, err := url.Parse(env(b, "LOCK_TEST_MEMCACHED_URL"))
		if err != nil {
			b.Fatal(err)
		}
		c, err := net.Dial("tcp", strings.Split(u.Host, ",")[0])
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		key, value := "bench:ms:"+rand.Text(), rand.Text()
		cas := ""
		store := func(req string) {
			if _, err := io.WriteString(c, req); err != nil {
				b.Fatal(err)
			}
			line, err := r.ReadString('\n')
			f := strings.Fields(line)
			if err != nil || len(f) != 2 || f[0] != "HD" || !strings.HasPrefix(f[1], "c") {
				b.Fatalf("%q: %q, %v", req, line, err)
			}
			cas = f[1][1:]
		}
		store("ms " + key + " 26 T61 c\r\n" + value + "\r\n")
		for b.Loop() {
			store("ms " + key + " 26 T61 C" + cas + " c\r\n" + value + "\r\n")
		}
	})
	b.Run("redis/Lock", func(b *testing.B) { lockExtend(b, open(b, env(b, "LOCK_TEST_REDIS_URL"))) })
	b.Run("redis/redislock", func(b *testing.B) {
		l, err := redislock.New(redisClient(b)).Obtain(ctx, "bench:redislock:"+rand.Text(), time.Minute, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Release(ctx)
		for b.Loop() {
			if err := l.Refresh(ctx, time.Minute, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParallelDistinctKeys: cycles of goroutines each on keys of its
// own, through one Lock value (or one raw client).
func BenchmarkParallelDistinctKeys(b *testing.B) {
	par := func(b *testing.B, l lock.Lock) {
		b.RunParallel(func(pb *testing.PB) {
			key := "bench:par:" + rand.Text()
			for pb.Next() {
				s, err := l.TryAcquire(ctx, key, time.Minute)
				if err != nil {
					b.Error(err)
					return
				}
				if err := s.Release(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("memcached/Lock", func(b *testing.B) { par(b, open(b, env(b, "LOCK_TEST_MEMCACHED_URL"))) })
	b.Run("memcached/raw-add-delete", func(b *testing.B) {
		c := memcachedClient(b)
		b.RunParallel(func(pb *testing.PB) {
			item := &memcache.Item{Key: "bench:par:" + rand.Text(), Value: []byte(rand.Text()), Expiration: 61}
			for pb.Next() {
				if err := c.Add(item); err != nil {
					b.Error(err)
					return
				}
				if err := c.Delete(item.Key); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("redis/Lock", func(b *testing.B) { par(b, open(b, env(b, "LOCK_TEST_REDIS_URL"))) })
}

// BenchmarkHandoff: 8 contenders, each with a Lock value of its own, take
// turns on one key with a 1ms critical section; handoff-µs is the median
// gap from a release to the next acquire, by another contender: one that
// releases waits for the next turn to be taken before it asks again, so
// that the gap is a hand-off, not the releaser taking the key back.
func BenchmarkHandoff(b *testing.B) {
	run := func(b *testing.B, newLock func() lock.Lock) {
		handoff(b, func(key string) (func(context.Context) error, func() error) {
			l := newLock()
			var s *lock.Lease
			return func(ctx context.Context) (err error) {
					s, err = l.Acquire(ctx, key, time.Minute)
					return err
				}, func() error {
					return s.Release(ctx)
				}
		})
	}
	b.Run("memory", func(b *testing.B) {
		store := memory.NewStore(nil)
		run(b, func() lock.Lock { l := store.Lock(); b.Cleanup(func() { l.Close() }); return l })
	})
	b.Run("memcached", func(b *testing.B) {
		raw := env(b, "LOCK_TEST_MEMCACHED_URL")
		run(b, func() lock.Lock { return open(b, raw) })
	})
	// Contenders as in separate processes: each has a gomemcache client of
	// its own, so no release wakes another's wait, and waits poll (with
	// the default retry interval).
	b.Run("memcached/polling", func(b *testing.B) {
		run(b, func() lock.Lock {
			l, err := memcached.New(memcachedClient(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { l.Close() })
			return l
		})
	})
	b.Run("redis", func(b *testing.B) {
		raw := env(b, "LOCK_TEST_REDIS_URL")
		run(b, func() lock.Lock { return open(b, raw) })
	})
	b.Run("redislock-10ms", func(b *testing.B) {
		c := redisClient(b)
		handoff(b, func(key string) (func(context.Context) error, func() error) {
			lk := redislock.New(c)
			var l *redislock.Lock
			opts := &redislock.Options{RetryStrategy: redislock.LinearBackoff(10 * time.Millisecond)}
			return func(ctx context.Context) (err error) {
					l, err = lk.Obtain(ctx, key, time.Minute, opts)
					return err
				}, func() error {
					return l.Release(ctx)
				}
		})
	})
}

// handoff runs 8 contenders made by mk for b.N turns in all, and reports
// the median gap from a release to the next acquire.
func handoff(b *testing.B, mk func(key string) (acquire func(context.Context) error, release func() error)) {
	const contenders = 8
	key := "bench:handoff:" + rand.Text()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu       sync.Mutex
		released time.Time
		gaps     []time.Duration
		turns    = b.N
		taken    = make(chan struct{}) // closed at the next acquire
	)
	var wg sync.WaitGroup
	for range contenders {
		acquire, release := mk(key)
		wg.Go(func() {
			for {
				if err := acquire(wctx); err != nil {
					if wctx.Err() == nil {
						b.Error(err)
					}
					return
				}
				now := time.Now()
				mu.Lock()
				if !released.IsZero() {
					gaps = append(gaps, now.Sub(released))
				}
				turns--
				last := turns <= 0
				close(taken)
				taken = make(chan struct{})
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				released = time.Now()
				next := taken
				mu.Unlock()
				if err := release(); err != nil {
					b.Error(err)
					return
				}
				if last {
					stop()
					return
				}
				select {
				case <-next:
				case <-wctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	if len(gaps) > 0 {
		slices.Sort(gaps)
		b.ReportMetric(float64(gaps[len(gaps)/2].Nanoseconds())/1000, "handoff-µs")
	}
}

// BenchmarkBurst: 10,000 goroutines at once, each a TryAcquire and a
// Release of a key of its own, through one Lock; failed is how many of
// them failed, per burst (the target is 0).
func BenchmarkBurst(b *testing.B) {
	const n = 10000
	burst := func(b *testing.B, l lock.Lock) {
		var (
			failed atomic.Int64
			first  atomic.Value
		)
		prefix := "bench:burst:" + rand.Text() + ":" // keys of this run only
		for b.Loop() {
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				key := prefix + strconv.Itoa(i)
				wg.Go(func() {
					<-start
					s, err := l.TryAcquire(ctx, key, time.Minute)
					if err == nil {
						err = s.Release(ctx)
					}
					if err != nil {
						failed.Add(1)
						first.CompareAndSwap(nil, err)
					}
				})
			}
			close(start)
			wg.Wait()
		}
		if err := first.Load(); err != nil {
			b.Errorf("%d cycles failed; the first: %v", failed.Load(), err) // the target is none
		}
		b.ReportMetric(float64(failed.Load())/float64(b.N), "failed/op")
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/cycle")
	}
	b.Run("memcached", func(b *testing.B) { burst(b, open(b, env(b, "LOCK_TEST_MEMCACHED_URL"))) })
	b.Run("redis", func(b *testing.B) { burst(b, open(b, env(b, "LOCK_TEST_REDIS_URL"))) })
}

// storeCommands returns a function that reads how many commands the
// store of the URL in the environment variable name has processed so far
// (the reading's own commands left out).
func storeCommands(b *testing.B, name string) func() int64 {
	raw := env(b, name)
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	if u.Scheme == "redis" {
		c := redisClient(b)
		reads := int64(0)
		return func() int64 {
			info, err := c.Info(ctx, "stats").Result()
			if err != nil {
				b.Fatal(err)
			}
			reads++
			return statValue(b, info, "total_commands_processed:") - reads + 1
		}
	}
	conn, err := net.Dial("tcp", strings.Split(u.Host, ",")[0])
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	r := bufio.NewReader(conn)
	return func() int64 {
		if _, err := conn.Write([]byte("stats\r\n")); err != nil {
			b.Fatal(err)
		}
		var all strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if line == "END\r\n" {
				break
			}
			all.WriteString(line)
		}
		s := all.String()
		var n int64
		for _, name := range []string{"cmd_get", "cmd_set", "cmd_touch", "delete_hits", "delete_misses", "cas_misses", "cas_hits", "cas_badval"} {
			n += statValue(b, s, "STAT "+name+" ")
		}
		return n
	}
}

// statValue returns the number after name in a stats listing.
func statValue(b *testing.B, s, name string) int64 {
	i := strings.Index(s, name)
	if i < 0 {
		b.Fatalf("no %q in the store's statistics", name)
	}
	v := s[i+len(name):]
	v = v[:strings.IndexAny(v, "\r\n")]
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkWaitersShareOneLock: goroutines sharing one Lock take turns on
// one key (a 1ms critical section each); cmds/handoff is the store
// commands per acquisition, which waits queued in the Lock keep bounded
// whatever the number of goroutines.
func BenchmarkWaitersShareOneLock(b *testing.B) {
	for _, store := range []string{"LOCK_TEST_MEMCACHED_URL", "LOCK_TEST_REDIS_URL"} {
		for _, g := range []int{1, 8, 32, 128} {
			name := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(store, "LOCK_TEST_"), "_URL"))
			b.Run(name+"/"+strconv.Itoa(g), func(b *testing.B) {
				l := open(b, env(b, store))
				count := storeCommands(b, store)
				key := "bench:share:" + rand.Text()
				var (
					turns atomic.Int64
					wg    sync.WaitGroup
				)
				wctx, stop := context.WithCancel(ctx)
				defer stop()
				b.ResetTimer()
				before := count()
				for range g {
					wg.Go(func() {
						for turns.Add(1) <= int64(b.N) {
							s, err := l.Acquire(wctx, key, time.Minute)
							if err != nil {
								b.Error(err)
								return
							}
							time.Sleep(time.Millisecond)
							if err := s.Release(ctx); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(count()-before)/float64(b.N), "cmds/handoff")
			})
		}
	}
}

// BenchmarkWaitersOfAHolder: 20 waits, each on a Lock of its own (as in
// separate processes), for a key that a live holder keeps; cmds/waiter/s
// is the store commands per waiter per second meanwhile.
func BenchmarkWaitersOfAHolder(b *testing.B) {
	const waiters = 20
	for _, store := range []string{"LOCK_TEST_MEMCACHED_URL", "LOCK_TEST_REDIS_URL"} {
		name := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(store, "LOCK_TEST_"), "_URL"))
		b.Run(name, func(b *testing.B) {
			raw := env(b, store)
			count := storeCommands(b, store)
			key := "bench:holder:" + rand.Text()
			holder, err := open(b, raw).TryAcquire(ctx, key, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			defer holder.Release(ctx)
			wctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for range waiters {
				l := open(b, raw)
				wg.Go(func() { l.Acquire(wctx, key, time.Minute) })
			}
			time.Sleep(time.Second) // the waits settle into their pauses
			before, start := count(), time.Now()
			for b.Loop() {
				time.Sleep(500 * time.Millisecond)
			}
			cmds, secs := count()-before, time.Since(start).Seconds()
			stop()
			wg.Wait()
			b.ReportMetric(float64(cmds)/secs/waiters, "cmds/waiter/s")
		})
	}
}

// processCPU returns the CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkKeepAlive: n leases (ttl 3s) kept alive by one Lock; reports
// the client's CPU per extend (one every second per lease), its memory per
// lease (heap and stacks, after a GC), and the leases lost.
func BenchmarkKeepAlive(b *testing.B) {
	for _, store := range []string{"LOCK_TEST_MEMCACHED_URL", "LOCK_TEST_REDIS_URL"} {
		for _, n := range []int{1000, 10000} {
			name := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(store, "LOCK_TEST_"), "_URL"))
			b.Run(name+"/"+strconv.Itoa(n), func(b *testing.B) {
				l := open(b, env(b, store))
				prefix := "bench:kept:" + rand.Text() + ":"
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				leases := make([]*lock.Lease, n)
				var wg sync.WaitGroup
				for i := range leases {
					wg.Go(func() {
						s, err := l.TryAcquire(ctx, prefix+strconv.Itoa(i), 3*time.Second)
						if err == nil {
							err = s.KeepAlive(ctx, 0)
						}
						if err != nil {
							b.Error(err)
						}
						leases[i] = s
					})
				}
				wg.Wait()
				runtime.GC()
				runtime.ReadMemStats(&after)
				cpu, start := processCPU(), time.Now()
				for b.Loop() {
					time.Sleep(time.Second)
				}
				cpu, secs := processCPU()-cpu, time.Since(start).Seconds()
				lost := 0
				for _, s := range leases {
					if s == nil || s.Err() != nil {
						lost++
					}
				}
				b.ReportMetric(float64(cpu.Microseconds())/(secs*float64(n)), "µs-cpu/extend")
				b.ReportMetric(float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse))/float64(n), "B/lease")
				b.ReportMetric(float64(lost), "lost")
				if lost > 0 {
					b.Errorf("%d of %d leases kept alive were lost", lost, n) // the target is none
				}
			})
		}
	}
}
