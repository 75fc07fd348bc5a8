// Command scheduled shows a job that several instances of a service run on
// the same schedule, and that exactly one of them runs at each tick: each
// instance, with a Lock of its own (as separate processes would have), calls
// lock.TryDo, and the instances that find the job's lock held skip it.
//
//	go run ./examples/scheduled                                  # in-process store
//	go run ./examples/scheduled -url redis://127.0.0.1:6379/0    # any registered backend
//
// The URL may also come from the LOCK_URL environment variable. The program
// counts the runs of each tick and exits with status 1 unless every tick ran
// exactly once.
package main

import (
	"context"
	"errors"
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
		def = "memory://scheduled"
	}
	rawURL := flag.String("url", def, "lock store URL; schemes: "+fmt.Sprint(lock.Schemes()))
	instances := flag.Int("instances", 4, "instances of the service")
	ticks := flag.Int("ticks", 5, "ticks to run")
	every := flag.Duration("every", 400*time.Millisecond, "time between ticks")
	flag.Parse()
	if err := run(*rawURL, *instances, *ticks, *every); err != nil {
		fmt.Fprintln(os.Stderr, "scheduled:", err)
		os.Exit(1)
	}
}

func run(rawURL string, instances, ticks int, every time.Duration) error {
	if instances < 1 || ticks < 1 || every < 50*time.Millisecond {
		return fmt.Errorf("want -instances >= 1, -ticks >= 1 and -every >= 50ms (got %d, %d, %v)", instances, ticks, every)
	}
	ctx := context.Background()
	locks := make([]lock.Lock, instances)
	for i := range locks {
		l, err := lock.Open(ctx, rawURL)
		if err != nil {
			return err
		}
		defer l.Close()
		locks[i] = l
	}
	// The job's key names the tick: a lock left by a crashed run of one
	// tick does not block the next tick.
	job := fmt.Sprintf("scheduled:report:%d", time.Now().UnixNano())
	var (
		mu   sync.Mutex
		runs = make([]int, ticks)
		errs []error
	)
	first := time.Now().Truncate(every).Add(every) // ticks fall on multiples of every
	var wg sync.WaitGroup
	for i, l := range locks {
		wg.Go(func() {
			for n := range ticks {
				at := first.Add(time.Duration(n) * every)
				time.Sleep(time.Until(at))
				key := fmt.Sprintf("%s:%d", job, n)
				// Hold the lock for half a tick, so that an instance whose
				// tick fires late still finds the job taken.
				err := lock.TryDo(ctx, l, key, every, func(ctx context.Context) error {
					mu.Lock()
					runs[n]++
					mu.Unlock()
					fmt.Printf("tick %d: instance %d runs the job\n", n, i)
					select {
					case <-time.After(time.Until(at.Add(every / 2))):
						return nil
					case <-ctx.Done():
						return context.Cause(ctx)
					}
				})
				if err != nil && !errors.Is(err, lock.ErrNotAcquired) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("tick %d, instance %d: %w", n, i, err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for n, r := range runs {
		if r != 1 {
			errs = append(errs, fmt.Errorf("tick %d ran %d times; want exactly once", n, r))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("%d ticks, %d instances: each tick ran exactly once\n", ticks, instances)
	return nil
}
