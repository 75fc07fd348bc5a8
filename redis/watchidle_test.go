package redis

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
)

// eventually polls cond every few milliseconds until it holds or within
// passes, and reports whether it held.
func eventually(within time.Duration, cond func() bool) bool {
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestWatchChannelsIdle checks the package doc's promise that a channel
// stays subscribed while waits watch it, and is unsubscribed once it has
// been idle for the idle time (a minute; 300ms here).
func TestWatchChannelsIdle(t *testing.T) {
	t.Parallel() // real time: channels idle for 300ms
	mr := miniredis.RunT(t)
	c := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	defer c.Close()
	w := newWatcher(c)
	w.idle = 300 * time.Millisecond
	defer w.close()
	ctx := context.Background()
	channels := func() []string {
		got, err := c.PubSubChannels(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	for _, k := range []string{"a", "b", "c"} {
		w.watch(k)
	}
	if !eventually(5*time.Second, func() bool { return slices.Equal(channels(), []string{"a", "b", "c"}) }) {
		t.Fatalf("channels %q after three watches; want a, b and c subscribed", channels())
	}
	// Keep a watched while b and c go idle.
	stop := time.Now().Add(2 * time.Second)
	for time.Now().Before(stop) && !slices.Equal(channels(), []string{"a"}) {
		w.watch("a")
		time.Sleep(20 * time.Millisecond)
	}
	if got := channels(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("channels %q with a watched and b, c idle for over %v; want a alone", got, w.idle)
	}
	if !eventually(5*time.Second, func() bool { return len(channels()) == 0 }) {
		t.Fatalf("channels %q once every one was idle; want none", channels())
	}
}

// TestWatchOneConnectionReal checks the package doc's promise that, over a
// client passed to New, waits on many keys take one pub/sub connection of
// that client, on the real server of LOCK_TEST_REDIS_URL.
func TestWatchOneConnectionReal(t *testing.T) {
	raw := os.Getenv("LOCK_TEST_REDIS_URL")
	if raw == "" {
		t.Skip("LOCK_TEST_REDIS_URL not set")
	}
	o, err := goredis.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	name := "watch-one-conn-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "")
	o.ClientName = name
	c := goredis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("LOCK_TEST_REDIS_URL is set but the server does not answer: %v", err)
	}
	w := newWatcher(c)
	defer w.close()
	keys := []string{name + ":1", name + ":2", name + ":3", name + ":4", name + ":5"}
	for _, k := range keys {
		w.watch(k)
	}
	subscribed := func() (conns int) {
		list, err := c.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(list, "\n") {
			if strings.Contains(line, " name="+name+" ") && !strings.Contains(line, " sub=0 ") {
				conns++
			}
		}
		return conns
	}
	if !eventually(5*time.Second, func() bool {
		n, err := c.PubSubNumSub(ctx, keys...).Result()
		return err == nil && n[keys[4]] == 1 && n[keys[0]] == 1
	}) {
		t.Fatal("the five channels were not subscribed")
	}
	if n := subscribed(); n != 1 {
		t.Errorf("%d connections of the client are subscribed for waits on five keys; want 1", n)
	}
}
