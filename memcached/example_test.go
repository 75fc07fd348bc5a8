package memcached_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memcached"
	"github.com/distlock/lock/memcached/memcachedtest"
)

// Dial makes a Lock with a client of its own, which speaks memcached's meta
// protocol: one round trip per acquire, extend or release.
func ExampleDial() {
	ctx := context.Background()
	srv, err := memcachedtest.Start(nil) // a memcached for the example
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	l, err := memcached.Dial(ctx, []string{srv.Addr()}, &memcached.Options{Prefix: "myapp:"})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	lease, err := l.TryAcquire(ctx, "invoice:42", 30*time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println("keys:", srv.Keys())

	_, err = l.TryAcquire(ctx, "invoice:42", 30*time.Second)
	fmt.Println("while held:", errors.Is(err, lock.ErrNotAcquired))

	fmt.Println("extend:", lease.Extend(ctx, time.Minute))
	fmt.Println("release:", lease.Release(ctx))
	fmt.Println("keys:", srv.Keys())
	// Output:
	// keys: [myapp:invoice:42]
	// while held: true
	// extend: <nil>
	// release: <nil>
	// keys: []
}

// Importing the package registers memcached://. The Lock that lock.Open
// returns is Dial's: it owns its client, and closes it on Close.
func Example_open() {
	ctx := context.Background()
	srv, err := memcachedtest.Start(nil) // a memcached for the example
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	a, err := lock.Open(ctx, "memcached://"+srv.Addr()+"?prefix=myapp:")
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := lock.Open(ctx, "memcached://"+srv.Addr()+"?prefix=myapp:")
	if err != nil {
		panic(err)
	}
	defer b.Close()

	ok, _ := a.TryAcquireLock(ctx, "nightly", time.Minute)
	fmt.Println("a:", ok)
	ok, _ = b.TryAcquireLock(ctx, "nightly", time.Minute)
	fmt.Println("b:", ok)
	fmt.Println("a releases:", a.ReleaseLock(ctx, "nightly"))
	ok, _ = b.TryAcquireLock(ctx, "nightly", time.Minute)
	fmt.Println("b:", ok)
	// Output:
	// a: true
	// b: false
	// a releases: <nil>
	// b: true
}

// New makes a Lock over a gomemcache client you already have, through the
// classic text protocol. Made with memcache.NewFromSelector over Servers,
// the client stores each key on the server that Locks made by Dial or by URL
// use, whatever order the servers are listed in, so the two kinds of Lock
// exclude each other.
func ExampleNew() {
	ctx := context.Background()
	srv1, err := memcachedtest.Start(nil) // two memcacheds for the example
	if err != nil {
		panic(err)
	}
	defer srv1.Close()
	srv2, err := memcachedtest.Start(nil)
	if err != nil {
		panic(err)
	}
	defer srv2.Close()

	selector, err := memcached.Servers(ctx, srv1.Addr(), srv2.Addr())
	if err != nil {
		panic(err)
	}
	client := memcache.NewFromSelector(selector)
	client.Timeout = 500 * time.Millisecond
	defer client.Close() // the client stays yours: the Lock does not close it
	classic, err := memcached.New(client, &memcached.Options{Prefix: "myapp:"})
	if err != nil {
		panic(err)
	}
	defer classic.Close()

	// The same servers in another order, by URL.
	meta, err := lock.Open(ctx, "memcached://"+srv2.Addr()+","+srv1.Addr()+"?prefix=myapp:")
	if err != nil {
		panic(err)
	}
	defer meta.Close()

	for _, key := range []string{"invoice:1", "invoice:2", "invoice:3"} {
		ok, _ := classic.TryAcquireLock(ctx, key, time.Minute)
		taken, _ := meta.TryAcquireLock(ctx, key, time.Minute)
		fmt.Printf("%s: New %v, by URL %v\n", key, ok, taken)
	}
	// Output:
	// invoice:1: New true, by URL false
	// invoice:2: New true, by URL false
	// invoice:3: New true, by URL false
}
