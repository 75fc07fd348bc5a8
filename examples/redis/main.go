// Command redis shows the redis lock backend: a Lock opened by URL through
// lock.Open, and one made with redis.New over a go-redis client the program
// already has. It exits with status 1 and a message when the server cannot
// be reached.
//
//	go run ./examples/redis -url redis://127.0.0.1:6379/0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/redis"
)

func main() {
	rawURL := flag.String("url", "redis://127.0.0.1:6379/0", "redis URL (see the package doc of redis for its parameters)")
	flag.Parse()
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, *rawURL); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, rawURL string) error {
	// By URL: the Lock makes its own client, and its Close closes it. Open
	// checks that the server answers.
	openCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	byURL, err := lock.Open(openCtx, rawURL)
	if err != nil {
		return fmt.Errorf("cannot reach redis (is it running?): %w", err)
	}
	defer byURL.Close()
	fmt.Println("opened a lock store by URL")

	key := "example:report"
	ok, err := byURL.TryAcquireLock(ctx, key, 10*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("TryAcquireLock(%q, 10s) = %v\n", key, ok)
	if !ok {
		return fmt.Errorf("%q is held by another owner, perhaps an earlier run: try again once its ttl has passed", key)
	}

	// Over a client the program already has: the client stays ours.
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return fmt.Errorf("go-redis cannot parse the URL (lock parameters such as prefix are for lock.Open only): %w", err)
	}
	client := goredis.NewClient(opts)
	defer client.Close()
	overClient, err := redis.New(client, &redis.Options{Options: lock.Options{RetryInterval: 50 * time.Millisecond}})
	if err != nil {
		return err
	}
	defer overClient.Close()

	_, err = overClient.TryAcquire(ctx, key, 10*time.Second)
	fmt.Printf("a second owner, TryAcquire(%q): %v\n", key, err)
	if !errors.Is(err, lock.ErrNotAcquired) {
		return fmt.Errorf("want ErrNotAcquired while the first owner holds %q, got %v", key, err)
	}

	// Wait for the key in the background while the first owner releases it.
	acquired := make(chan *lock.Lease, 1)
	waitErr := make(chan error, 1)
	go func() {
		s, err := overClient.Acquire(ctx, key, 10*time.Second)
		if err != nil {
			waitErr <- err
			return
		}
		acquired <- s
	}()
	time.Sleep(200 * time.Millisecond) // let the wait start, for the demonstration
	if err := byURL.ReleaseLock(ctx, key); err != nil {
		return err
	}
	fmt.Printf("first owner released %q\n", key)
	select {
	case s := <-acquired:
		fmt.Printf("second owner acquired %q after waiting\n", key)
		if err := s.Extend(ctx, 30*time.Second); err != nil {
			return err
		}
		fmt.Println("second owner extended its lease to 30s")
		if err := s.Release(ctx); err != nil {
			return err
		}
		fmt.Println("second owner released its lease")
	case err := <-waitErr:
		return err
	}
	return nil
}
