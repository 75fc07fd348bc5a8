// Command quickstart shows several workers, each with a Lock of its own (as
// separate processes would have), taking turns on one key.
//
//	go run ./examples/quickstart                                  # in-process store
//	go run ./examples/quickstart -url memcached://127.0.0.1:11211 # any registered backend
//
// The URL may also come from the LOCK_URL environment variable.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/distlock/lock"
	_ "github.com/distlock/lock/memcached"
	_ "github.com/distlock/lock/memory"
	_ "github.com/distlock/lock/postgres"
	_ "github.com/distlock/lock/redis"
)

func main() {
	def := os.Getenv("LOCK_URL")
	if def == "" {
		def = "memory://quickstart"
	}
	rawURL := flag.String("url", def, "lock store URL; schemes: "+fmt.Sprint(lock.Schemes()))
	workers := flag.Int("workers", 3, "number of workers")
	rounds := flag.Int("rounds", 2, "turns each worker takes")
	flag.Parse()
	if err := run(*rawURL, *workers, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(rawURL string, workers, rounds int) error {
	if workers < 1 || rounds < 1 {
		return fmt.Errorf("-workers and -rounds must be at least 1 (got %d, %d)", workers, rounds)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := fmt.Sprintf("quickstart:%d", time.Now().UnixNano())
	start := time.Now()
	var (
		mu     sync.Mutex
		holder = -1 // who holds the key, as the workers see it: checks exclusion
	)
	say := func(format string, args ...any) {
		fmt.Printf("%6.1fms  %s\n", float64(time.Since(start).Microseconds())/1000, fmt.Sprintf(format, args...))
	}

	// Open every Lock first, so that an unreachable store is reported once.
	locks := make([]lock.Lock, workers)
	for i := range locks {
		l, err := lock.Open(ctx, rawURL)
		if err != nil {
			return err
		}
		defer l.Close()
		locks[i] = l
	}
	say("%d workers, each with its own Lock on %s, share key %q", workers, rawURL, key)

	var (
		wg       sync.WaitGroup
		failOnce sync.Once
		failed   error
	)
	fail := func(err error) { failOnce.Do(func() { failed = err }) }
	for w, l := range locks {
		wg.Go(func() {
			for range rounds {
				lease, err := l.Acquire(ctx, key, 10*time.Second)
				if err != nil {
					fail(fmt.Errorf("worker %d: %w", w, err))
					return
				}
				mu.Lock()
				if holder != -1 {
					fail(fmt.Errorf("worker %d acquired while worker %d holds the lock", w, holder))
				}
				holder = w
				mu.Unlock()
				say("worker %d holds the lock", w)
				time.Sleep(20 * time.Millisecond) // the critical section's work
				mu.Lock()
				holder = -1
				mu.Unlock()
				say("worker %d releases it", w)
				if err := lease.Release(ctx); err != nil {
					fail(fmt.Errorf("worker %d: %w", w, err))
					return
				}
				time.Sleep(5 * time.Millisecond) // other work between turns, so the others get theirs
			}
		})
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	say("done: %d turns, never two holders at once", workers*rounds)
	return nil
}
