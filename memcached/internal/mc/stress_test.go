package mc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distlock/lock/memcached/memcachedtest"
)

// stressServer returns the server of LOCK_TEST_MEMCACHED_URL, or a fake.
func stressServer(t *testing.T) string {
	if raw := os.Getenv("LOCK_TEST_MEMCACHED_URL"); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(u.Host, ",")[0]
	}
	srv, err := memcachedtest.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr()
}

// TestStressCancelled: many calls share one connection, most of them cut
// short by a ctx of a few milliseconds or less. No call gets another's
// reply (each reads back a value of its own), and no call fails but by
// its ctx: a call cut short neither breaks the connection nor the reading
// of the others.
func TestStressCancelled(t *testing.T) {
	servers, err := NewServers(t.Context(), []string{stressServer(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := New(servers, Config{Dial: (&net.Dialer{}).DialContext, Timeout: 30 * time.Second, MaxConns: 1})
	defer c.Close()
	var (
		ok, cut, failed, wrong atomic.Int64
		first                  atomic.Value
		wg                     sync.WaitGroup
	)
	run := fmt.Sprint("stress:", time.Now().UnixNano(), ":")
	stop := time.Now().Add(2 * time.Second)
	for g := range 128 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				key, value := fmt.Sprint(run, g, ":", i), fmt.Sprint("v", g, ":", i)
				var d time.Duration // one call in 4 runs to its end, the others may be cut short
				switch rand.IntN(4) {
				case 0:
					d = 10 * time.Second
				case 1:
					d = time.Duration(rand.Int64N(int64(300 * time.Microsecond)))
				case 2:
					d = time.Duration(rand.Int64N(int64(time.Millisecond)))
				default:
					d = time.Duration(rand.Int64N(int64(5 * time.Millisecond)))
				}
				ctx, cancel := context.WithTimeout(context.Background(), d)
				cn, err := c.Conn(ctx, 0)
				if err == nil {
					var st Status
					st, _, err = cn.Add(ctx, key, value, 60)
					if err == nil && st != Stored {
						err = fmt.Errorf("add of a fresh key: status %d", st)
						wrong.Add(1)
					}
					if err == nil {
						var found, ours bool
						found, ours, _, err = cn.Get(ctx, key, value)
						if err == nil && (!found || !ours) {
							err = fmt.Errorf("read back %q: found %v, ours %v", key, found, ours)
							wrong.Add(1)
						}
					}
					cn.Release()
				}
				cancel()
				switch {
				case err == nil:
					ok.Add(1)
				case ctx.Err() != nil: // the backend reports it as the ctx's error
					cut.Add(1)
				default:
					failed.Add(1)
					first.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d calls answered, %d cut short by their ctx, %d failed, %d wrong", ok.Load(), cut.Load(), failed.Load(), wrong.Load())
	if failed.Load() > 0 || wrong.Load() > 0 {
		t.Errorf("%d calls failed other than by their ctx, %d got a wrong answer; first: %v", failed.Load(), wrong.Load(), first.Load())
	}
	if ok.Load() == 0 || cut.Load() == 0 {
		t.Errorf("the test must see calls answered and calls cut short")
	}
}
