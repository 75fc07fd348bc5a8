// Command memcached shows the two ways to a Lock on memcached: by URL
// through the registry, and with memcached.New over a *memcache.Client the
// program already has.
//
//	go run ./examples/memcached -servers 127.0.0.1:11211[,host2:11211...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memcached"
)

func main() {
	servers := flag.String("servers", "127.0.0.1:11211", "memcached servers, host:port[,host:port...], for both ways in")
	flag.Parse()
	if err := run(*servers); err != nil {
		fmt.Fprintln(os.Stderr, "memcached example:", err)
		os.Exit(1)
	}
}

func run(servers string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := fmt.Sprintf("example:%d", time.Now().UnixNano())

	// 1. By URL: the Lock owns its client and closes it.
	byURL, err := lock.Open(ctx, "memcached://"+servers+"?prefix=example:")
	if err != nil {
		return fmt.Errorf("is memcached running? %w", err)
	}
	defer byURL.Close()

	// 2. Over a client the program already has: the client stays its own.
	// Made over memcached.Servers, it stores each key on the server that
	// Locks made by URL use.
	selector, err := memcached.Servers(ctx, strings.Split(servers, ",")...)
	if err != nil {
		return err
	}
	client := memcache.NewFromSelector(selector)
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
	if !errors.Is(err, lock.ErrNotAcquired) {
		return fmt.Errorf("existing client: TryAcquire while held = %v; want ErrNotAcquired", err)
	}
	fmt.Printf("existing client: TryAcquire while held: %v\n", err)

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
