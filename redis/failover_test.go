package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/internal/bounded"
	"github.com/distlock/lock/redis"
)

// The failover tests run a primary, its replicas and three sentinels
// (quorum 2), all started from LOCK_TEST_REDIS_BIN, and Locks opened
// through the sentinels' URL, without and with min_replicas=1. Each
// scenario logs one line of figures; the assertions are the promises of
// the package doc (# Replicas).

// topology is a primary watched by three sentinels, with replicas.
type topology struct {
	primary   *server
	replicas  []*server
	sentinels []*server
}

func startTopology(t *testing.T, replicas int, downAfter time.Duration) *topology {
	t.Helper()
	tp := &topology{}
	tp.primary, tp.replicas = startReplicated(t, replicas)
	for range 3 {
		tp.sentinels = append(tp.sentinels, startSentinel(t, tp.primary, downAfter))
	}
	// The sentinels must know the replica and each other before a
	// failover can elect one.
	for _, s := range tp.sentinels {
		c := s.client()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			m, err := c.Do(context.Background(), "sentinel", "master", "mymaster").Result()
			if err == nil && field(m, "num-slaves") == strconv.Itoa(replicas) && field(m, "num-other-sentinels") == "2" {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("sentinel on %d never saw the replica and the other sentinels: %v, %v", s.port, m, err)
			}
		}
		c.Close()
	}
	return tp
}

// field returns the value of name in a SENTINEL MASTER reply (a map in
// RESP3, a flat list in RESP2).
func field(reply any, name string) string {
	switch r := reply.(type) {
	case map[any]any:
		return fmt.Sprint(r[name])
	case []any:
		for i := 0; i+1 < len(r); i += 2 {
			if r[i] == name {
				return fmt.Sprint(r[i+1])
			}
		}
	}
	return ""
}

// url returns the URL of a Lock through the sentinels, with extra
// parameters.
func (tp *topology) url(extra string) string {
	u := "redis://" + tp.sentinels[0].addr() + "/0?master_name=mymaster"
	for _, s := range tp.sentinels[1:] {
		u += "&addr=" + s.addr()
	}
	return u + extra
}

// awaitSwitch waits until the sentinels name a replica as the primary, and
// returns how long that took.
func (tp *topology) awaitSwitch(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	c := tp.sentinels[0].client()
	defer c.Close()
	start := time.Now()
	for ; ; time.Sleep(20 * time.Millisecond) {
		addr, err := c.Do(context.Background(), "sentinel", "get-master-addr-by-name", "mymaster").StringSlice()
		if err == nil && len(addr) == 2 && addr[1] != strconv.Itoa(tp.primary.port) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("the sentinels did not promote a replica within %v (they name %v, %v)", within, addr, err)
		}
	}
}

// cutReplicas stalls the replicas and makes the primary drop their links:
// what the primary stores from then on reaches no replica (a link merely
// stalled would deliver the bytes already sent once it resumes).
func (tp *topology) cutReplicas(t *testing.T) {
	t.Helper()
	for _, r := range tp.replicas {
		r.signal(syscall.SIGSTOP)
	}
	c := tp.primary.client()
	defer c.Close()
	if err := c.Do(t.Context(), "client", "kill", "type", "replica").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE replica: %v", err)
	}
}

// recovery returns how long after its call l first acquires a fresh key.
func recovery(t *testing.T, l lock.Lock) time.Duration {
	t.Helper()
	start := time.Now()
	for i := 0; ; i++ {
		s, err := l.TryAcquire(t.Context(), "probe:"+strconv.Itoa(i), time.Minute)
		if err == nil {
			_ = s.Release(t.Context())
			return time.Since(start)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no acquisition succeeded 30s after the switch: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// load makes about 200 acquisitions a second through l, on keys of their
// own, until the function it returns is called.
func load(l lock.Lock) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if s, err := l.TryAcquire(ctx, "load:"+strconv.Itoa(w)+":"+strconv.Itoa(i), time.Second); err == nil {
					_ = s.Release(ctx)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

var replicaModes = []struct{ name, params string }{{"Async", ""}, {"MinReplicas", "&min_replicas=1"}}

// TestFailoverLagThenKill: the replicas stall and lose their links,
// 1,000 locks are acquired, the primary dies, and the sentinels promote a
// replica, which never got them. There are two replicas, so that one is
// left to acknowledge writes after the failover. Without min_replicas those locks are lost while their holder
// believes it holds them; with it, none was reported acquired that the
// replica did not have.
func TestFailoverLagThenKill(t *testing.T) {
	redisBin(t)
	for _, mode := range replicaModes {
		t.Run(mode.name, func(t *testing.T) {
			tp := startTopology(t, 2, time.Second)
			l, other := mustOpen(t, tp.url(mode.params)), mustOpen(t, tp.url(""))
			defer l.Close()
			defer other.Close()

			tp.cutReplicas(t)
			const n = 1000
			leases := make([]*lock.Lease, n)
			var refused atomic.Int64
			bounded.Each(indexes(n), 100, func(i int) {
				s, err := l.TryAcquire(t.Context(), "lag:"+strconv.Itoa(i), time.Minute)
				switch {
				case err == nil:
					leases[i] = s
				case errors.Is(err, redis.ErrNotReplicated):
					refused.Add(1)
				default:
					t.Errorf("TryAcquire with the replica stalled: %v", err)
				}
			})
			stopLoad := load(l) // calls through the outage, as a busy service makes
			tp.primary.kill()
			for _, r := range tp.replicas {
				r.signal(syscall.SIGCONT)
			}
			switched := tp.awaitSwitch(t, 30*time.Second)
			back := recovery(t, l)
			stopLoad()

			var acquired, believed, taken int
			for i, s := range leases {
				if s == nil {
					continue
				}
				acquired++
				if s.Err() == nil {
					believed++
				}
				if o, err := other.TryAcquire(t.Context(), "lag:"+strconv.Itoa(i), time.Minute); err == nil {
					taken++
					if s.Err() == nil {
						_ = o.Release(t.Context())
					}
				}
			}
			t.Logf("figures: lag then kill, %s: %d acquired while the replica lagged (%d refused), %d still believed held after the failover, %d taken by another owner; switch %v after the kill, first acquisition %v after the switch",
				mode.name, acquired, refused.Load(), believed, taken, switched.Round(10*time.Millisecond), back.Round(10*time.Millisecond))
			if mode.params != "" && taken != 0 {
				t.Errorf("with min_replicas=1, %d locks reported acquired were lost in the failover; want 0", taken)
			}
		})
	}
}

// TestFailoverGraceful: SENTINEL FAILOVER while three Locks contend for
// ten keys, on a primary with one replica: two through the sentinels, and
// one that does not see the switch (it reaches the primary by its address,
// as a client whose sentinels are out of reach would). The demoted primary
// still takes writes until the sentinels make it a replica (about 10s);
// without min_replicas, the late Lock and the others can then hold a key
// at once. With min_replicas=1 they cannot: the demoted primary lost its one
// replica, promoted, and can gather no acknowledgement; nor can the new
// primary, until the demoted one follows it: that gap is the figure "first
// acquisition after the switch".
func TestFailoverGraceful(t *testing.T) {
	redisBin(t)
	for _, mode := range replicaModes {
		t.Run(mode.name, func(t *testing.T) {
			tp := startTopology(t, 1, 5*time.Second)
			late := "redis://" + tp.primary.addr() + "/0?prefix=" + redis.DefaultPrefix + mode.params
			locks := []lock.Lock{mustOpen(t, tp.url(mode.params)), mustOpen(t, tp.url(mode.params)), mustOpen(t, late)}
			for _, l := range locks {
				defer l.Close()
			}
			type hold struct{ start, end time.Time }
			var (
				mu    sync.Mutex
				holds = map[string][]hold{}
				total atomic.Int64
			)
			ctx, stop := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			for w := range 18 {
				wg.Go(func() {
					l := locks[w%3]
					for i := 0; ctx.Err() == nil; i++ {
						key := "graceful:" + strconv.Itoa((w+i)%10)
						s, err := l.TryAcquire(ctx, key, 5*time.Second)
						if err != nil {
							time.Sleep(5 * time.Millisecond)
							continue
						}
						h := hold{start: time.Now()}
						time.Sleep(2 * time.Millisecond)
						h.end = time.Now()
						_ = s.Release(context.WithoutCancel(ctx))
						total.Add(1)
						mu.Lock()
						holds[key] = append(holds[key], h)
						mu.Unlock()
					}
				})
			}
			time.Sleep(time.Second)
			c := tp.sentinels[0].client()
			if err := c.Do(t.Context(), "sentinel", "failover", "mymaster").Err(); err != nil {
				t.Fatalf("SENTINEL FAILOVER: %v", err)
			}
			c.Close()
			switched := tp.awaitSwitch(t, 30*time.Second)
			back := recovery(t, locks[0])
			before := total.Load()
			time.Sleep(2 * time.Second)
			stop()
			wg.Wait()

			// A hold is measured from TryAcquire's return to Release's
			// call, inside the lock's true life: two that overlap had two
			// owners at once.
			var doubles int
			for _, hs := range holds {
				slices.SortFunc(hs, func(a, b hold) int { return a.start.Compare(b.start) })
				var last time.Time
				for _, h := range hs {
					if h.start.Before(last) {
						doubles++
					}
					if h.end.After(last) {
						last = h.end
					}
				}
			}
			t.Logf("figures: graceful failover, %s: %d acquisitions (%d in the 2s after the first one past the switch), %d held by two owners at once; switch %v after SENTINEL FAILOVER, first acquisition %v after the switch",
				mode.name, total.Load(), total.Load()-before, doubles, switched.Round(10*time.Millisecond), back.Round(10*time.Millisecond))
			if total.Load()-before == 0 {
				t.Error("no acquisition in the 2s after the first one past the switch")
			}
			if mode.params != "" && doubles != 0 {
				t.Errorf("with min_replicas=1, %d acquisitions overlapped another owner's; want 0", doubles)
			}
		})
	}
}

// TestFailoverPrimaryStalled: the primary stalls for 3s (too short for the
// sentinels to fail over) under 1,000 kept-alive leases. Their extends
// fail meanwhile; no lease may end while the store still holds its lock.
func TestFailoverPrimaryStalled(t *testing.T) {
	redisBin(t)
	for _, mode := range replicaModes {
		t.Run(mode.name, func(t *testing.T) {
			tp := startTopology(t, 1, 30*time.Second)
			l := mustOpen(t, tp.url(mode.params))
			defer l.Close()
			const n = 1000
			leases := make([]*lock.Lease, n)
			bounded.Each(indexes(n), 100, func(i int) {
				s, err := l.TryAcquire(t.Context(), "stall:"+strconv.Itoa(i), 10*time.Second)
				if err != nil {
					t.Errorf("TryAcquire: %v", err)
					return
				}
				if err := s.KeepAlive(t.Context(), time.Second); err != nil {
					t.Errorf("KeepAlive: %v", err)
				}
				leases[i] = s
			})
			if t.Failed() {
				return
			}
			tp.primary.signal(syscall.SIGSTOP)
			time.Sleep(3 * time.Second)
			tp.primary.signal(syscall.SIGCONT)
			time.Sleep(3 * time.Second) // three keep-alive rounds on a server back up

			c := tp.primary.client()
			defer c.Close()
			var ended, endedHeld int
			for i, s := range leases {
				if s.Err() == nil {
					continue
				}
				ended++
				if c.Exists(t.Context(), redis.DefaultPrefix+"stall:"+strconv.Itoa(i)).Val() == 1 {
					endedHeld++
					if endedHeld == 1 {
						t.Logf("first lease ended while held: %v", s.Err())
					}
				}
			}
			t.Logf("figures: primary stalled 3s, %s: %d kept-alive leases, %d ended, %d of them while the store held their locks", mode.name, n, ended, endedHeld)
			if endedHeld != 0 {
				t.Errorf("%d leases ended while their locks were held; want 0", endedHeld)
			}
		})
	}
}

// TestFailoverReadOnlyInTransit: the reply of a primary demoted in a
// failover (READONLY) is no answer about the lock: an acquire fails with
// ErrUnavailable, so a wait retries, and an extend fails in transit, so a
// keep-alive retries until its deadline.
func TestFailoverReadOnlyInTransit(t *testing.T) {
	t.Parallel()
	mr, c := mini(t)
	l := mustNew(t, c, testOpts)
	defer l.Close()
	s, err := l.TryAcquire(t.Context(), "k", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	mr.SetError("READONLY You can't write against a read only replica.")
	if _, err := l.TryAcquire(t.Context(), "other", time.Minute); !errors.Is(err, lock.ErrUnavailable) {
		t.Errorf("TryAcquire on a demoted primary = %v; want ErrUnavailable", err)
	}
	if err := s.Extend(t.Context(), time.Minute); !errors.Is(err, lock.ErrUnavailable) || s.Err() != nil {
		t.Errorf("Extend on a demoted primary = %v, lease Err %v; want ErrUnavailable, the lease kept", err, s.Err())
	}
	mr.SetError("")
	if err := s.Extend(t.Context(), time.Minute); err != nil {
		t.Errorf("Extend once the primary serves again: %v", err)
	}
}

// indexes returns 0..n-1.
func indexes(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
