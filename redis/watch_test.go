package redis_test

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/redis"
)

func TestReleaseWakesWaitMiniredis(t *testing.T) {
	_, c := mini(t)
	testReleaseWakesWait(t, c)
}

func TestReleaseWakesWaitReal(t *testing.T) { testReleaseWakesWait(t, realClient(t)) }

// testReleaseWakesWait checks that a wait wakes on a release, not at its
// next poll: the retry interval is far longer than the test allows.
func testReleaseWakesWait(t *testing.T, c goredis.UniversalClient) {
	slow := &redis.Options{Options: lock.Options{RetryInterval: time.Hour}}
	holder, waiter := mustNew(t, c, slow), mustNew(t, c, slow)
	defer holder.Close()
	defer waiter.Close()
	ctx := ctxT(t)
	key := "wake:" + t.Name()
	for round := range 3 {
		s, err := holder.TryAcquire(ctx, key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			w, err := waiter.Acquire(ctx, key, time.Minute)
			if err == nil {
				err = w.Release(ctx)
			}
			got <- err
		}()
		// Release once the wait has subscribed: a release before that is
		// left to its poll.
		for {
			n, err := c.PubSubNumSub(ctx, redis.DefaultPrefix+key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n[redis.DefaultPrefix+key] > 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		released := time.Now()
		if err := s.Release(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("round %d: Acquire = %v", round, err)
			}
			t.Logf("round %d: woke %v after the release", round, time.Since(released))
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: a wait with an hour's retry interval did not wake on the release", round)
		}
	}
}
