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
	"net"
	"os"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memcached"
)

func main() {
	rawURL := flag.String("url", "memcached://127.0.0.1:11211", "memcached URL (see the memcached package doc); the existing-client example uses its servers too")
	flag.Parse()
	if err := run(*rawURL); err != nil {
		fmt.Fprintln(os.Stderr, "memcached example:", err)
		os.Exit(1)
	}
}

func run(rawURL string) error {
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

	// 2. Over a client the program already has (here on the URL's servers,
	// so that both Locks share one store): the client stays its own.
	var addrs []string
	for _, h := range strings.Split(u.Host, ",") {
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), memcached.DefaultPort)
		}
		addrs = append(addrs, h)
	}
	var servers memcache.ServerList
	if err := servers.SetServers(addrs...); err != nil {
		return err
	}
	client := memcache.NewFromSelector(&servers)
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
