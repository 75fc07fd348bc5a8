// Command memcached shows the two ways to a Lock on memcached: by URL
// through the registry, and with memcached.New over a *memcache.Client the
// program already has.
//
//	go run ./examples/memcached -url memcached://127.0.0.1:11211
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memcached"
)

func main() {
	rawURL := flag.String("url", "memcached://127.0.0.1:11211", "memcached URL (see the memcached package doc)")
	server := flag.String("server", "127.0.0.1:11211", "server for the existing-client example")
	flag.Parse()
	if err := run(*rawURL, *server); err != nil {
		fmt.Fprintln(os.Stderr, "memcached example:", err)
		os.Exit(1)
	}
}

func run(rawURL, server string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := fmt.Sprintf("example:%d", time.Now().UnixNano())

	// 1. By URL: the Lock owns its client and closes it.
	u, err := lock.ParseURL(rawURL)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("prefix", "example:")
	u.RawQuery = q.Encode()
	byURL, err := lock.Open(ctx, u.String())
	if err != nil {
		return fmt.Errorf("is memcached running? %w", err)
	}
	defer byURL.Close()

	// 2. Over a client the program already has: the client stays its own.
	client := memcache.New(server)
	client.Timeout = 500 * time.Millisecond
	defer client.Close()
	existing, err := memcached.New(client, &memcached.Options{Prefix: "example:"})
	if err != nil {
		return err
	}
	defer existing.Close()

	lease, err := byURL.TryAcquire(ctx, key, 5*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("by URL: acquired %q (token %s…)\n", key, lease.Token()[:8])

	_, err = existing.TryAcquire(ctx, key, 5*time.Second)
	fmt.Printf("existing client: TryAcquire while held: %v (ErrNotAcquired: %v)\n", err, errors.Is(err, lock.ErrNotAcquired))

	if err := lease.Extend(ctx, 10*time.Second); err != nil {
		return err
	}
	fmt.Println("by URL: extended to 10s")
	if err := lease.Release(ctx); err != nil {
		return err
	}
	fmt.Println("by URL: released")

	if err := existing.AcquireLock(ctx, key, 5*time.Second, time.Second); err != nil {
		return err
	}
	fmt.Println("existing client: acquired after the release")
	return existing.ReleaseLock(ctx, key)
}
