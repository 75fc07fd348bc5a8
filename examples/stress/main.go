// Command stress checks mutual exclusion across processes: it starts
// several copies of itself, each of which acquires one lock over and over
// and, while holding it, increments a counter kept in a shared file by a
// plain read and write. A lost update, which only two holders at once can
// cause, leaves the counter short.
//
//	go run ./examples/stress -url memcached://127.0.0.1:11211 -procs 4 -ops 250000
//
// That is 2M lock cycles (-procs × -workers × -ops): at the few thousand
// cycles a second of a local server, over ten minutes; .ci/run uses 300.
// It exits 0 when the counter is exact, 1 when it is not or a lock call
// fails, and 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distlock/lock"
	_ "github.com/distlock/lock/memcached"
	_ "github.com/distlock/lock/redis"
)

func main() {
	rawURL := flag.String("url", "", "lock store URL, of a store shared between processes (required)")
	procs := flag.Int("procs", 4, "processes")
	workers := flag.Int("workers", 2, "goroutines per process, each with its own Lock")
	ops := flag.Int("ops", 1000, "lock cycles per goroutine")
	child := flag.String("child", "", "internal: run as a child on this counter file and key")
	flag.Parse()

	if *rawURL == "" || strings.HasPrefix(*rawURL, "memory:") {
		fmt.Fprintln(os.Stderr, "stress: -url must name a store shared between processes, such as memcached://127.0.0.1:11211")
		os.Exit(2)
	}
	var err error
	if *child != "" {
		err = runChild(*rawURL, *child, *workers, *ops)
	} else {
		err = runParent(*rawURL, *procs, *workers, *ops)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stress:", err)
		os.Exit(1)
	}
}

func runParent(rawURL string, procs, workers, ops int) error {
	dir, err := os.MkdirTemp("", "lock-stress")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	counter := filepath.Join(dir, "counter")
	if err := os.WriteFile(counter, []byte("0"), 0o600); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for p := range procs {
		wg.Go(func() {
			cmd := exec.Command(self, "-url", rawURL, "-workers", strconv.Itoa(workers), "-ops", strconv.Itoa(ops),
				"-child", fmt.Sprintf("%s|stress:%d", counter, start.UnixNano()))
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			errs[p] = cmd.Run()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	got, err := readCounter(counter)
	if err != nil {
		return err
	}
	want := procs * workers * ops
	elapsed := time.Since(start)
	fmt.Printf("%d processes x %d goroutines x %d cycles on %s: counter %d, want %d (%.0f cycles/s)\n",
		procs, workers, ops, rawURL, got, want, float64(want)/elapsed.Seconds())
	if got != want {
		return fmt.Errorf("counter %d, want %d: %d updates lost to overlapping holders", got, want, want-got)
	}
	return nil
}

func runChild(rawURL, arg string, workers, ops int) error {
	i := strings.LastIndexByte(arg, '|')
	if i < 0 {
		return errors.New("bad -child argument")
	}
	counter, key := arg[:i], arg[i+1:]
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			l, err := lock.Open(ctx, rawURL)
			if err != nil {
				errs[w] = err
				return
			}
			defer l.Close()
			for range ops {
				if errs[w] = cycle(ctx, l, key, counter); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cycle increments the counter file while holding the lock.
func cycle(ctx context.Context, l lock.Lock, key, counter string) error {
	lease, err := l.Acquire(ctx, key, 30*time.Second)
	if err != nil {
		return err
	}
	n, err := readCounter(counter)
	if err == nil {
		err = os.WriteFile(counter, []byte(strconv.Itoa(n+1)), 0o600)
	}
	if rerr := lease.Release(ctx); err == nil {
		err = rerr
	}
	return err
}

func readCounter(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, fmt.Errorf("counter file half-written (%q): two holders at once", b)
	}
	return n, nil
}
