package redis_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
	"github.com/distlock/lock/redis"
)

// New makes a Lock over a go-redis client you already have. The client
// stays yours: the Lock's Close does not close it.
func ExampleNew() {
	ctx := context.Background()
	mr, err := miniredis.Run() // a redis for the example
	if err != nil {
		panic(err)
	}
	defer mr.Close()

	client := goredis.NewClient(&goredis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	l, err := redis.New(client, &redis.Options{Prefix: "myapp:"})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	lease, err := l.TryAcquire(ctx, "invoice:42", 30*time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println("keys:", mr.Keys())

	_, err = l.TryAcquire(ctx, "invoice:42", 30*time.Second)
	fmt.Println("while held:", errors.Is(err, lock.ErrNotAcquired))

	fmt.Println("release:", lease.Release(ctx))
	fmt.Println("keys:", mr.Keys())
	// Output:
	// keys: [myapp:invoice:42]
	// while held: true
	// release: <nil>
	// keys: []
}

// Importing the package registers redis:// and rediss://. The Lock that
// lock.Open returns owns its client, and closes it on Close.
func Example_open() {
	ctx := context.Background()
	mr, err := miniredis.Run() // a redis for the example
	if err != nil {
		panic(err)
	}
	defer mr.Close()

	a, err := lock.Open(ctx, "redis://"+mr.Addr()+"/0?prefix=myapp:")
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := lock.Open(ctx, "redis://"+mr.Addr()+"/0?prefix=myapp:")
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

// With Options.Fence (fence=true in a URL), every acquisition gets a
// fencing token greater than those of the key's earlier acquisitions. The
// resource the lock protects keeps the highest token it has seen and
// refuses writes that carry a lower one.
func Example_fencing() {
	ctx := context.Background()
	mr, err := miniredis.Run() // a redis for the example
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	client := goredis.NewClient(&goredis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()

	l, err := redis.New(client, &redis.Options{Fence: true})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	first, err := l.TryAcquire(ctx, "ledger", time.Minute)
	if err != nil {
		panic(err)
	}
	older, ok := first.Fence()
	fmt.Println("fenced:", ok)
	_ = first.Release(ctx)

	second, err := l.TryAcquire(ctx, "ledger", time.Minute)
	if err != nil {
		panic(err)
	}
	newer, _ := second.Fence()
	fmt.Println("newer > older:", newer > older)
	_ = second.Release(ctx)
	// Output:
	// fenced: true
	// newer > older: true
}
