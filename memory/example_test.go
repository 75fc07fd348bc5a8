package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memory"
)

// New makes a Lock on a store of its own: a key it holds is refused to
// every other attempt, its own included, until it is released.
func ExampleNew() {
	ctx := context.Background()
	l := memory.New(nil)
	defer l.Close()

	lease, err := l.TryAcquire(ctx, "report:2026-11", time.Minute)
	if err != nil {
		panic(err)
	}
	fmt.Println("acquired", lease.Key())

	_, err = l.TryAcquire(ctx, "report:2026-11", time.Minute)
	fmt.Println("while held:", errors.Is(err, lock.ErrNotAcquired))

	fmt.Println("release:", lease.Release(ctx))
	// Output:
	// acquired report:2026-11
	// while held: true
	// release: <nil>
}

// Lock values from one Store exclude each other as processes sharing a
// server do.
func ExampleStore_Lock() {
	ctx := context.Background()
	store := memory.NewStore(nil)
	a, b := store.Lock(), store.Lock()
	defer a.Close()
	defer b.Close()

	ok, _ := a.TryAcquireLock(ctx, "job", time.Minute)
	fmt.Println("a:", ok)
	ok, _ = b.TryAcquireLock(ctx, "job", time.Minute)
	fmt.Println("b:", ok)

	// b waits, and wakes as soon as a releases.
	go a.ReleaseLock(ctx, "job")
	fmt.Println("b waited:", b.AcquireLock(ctx, "job", time.Minute, 5*time.Second))
	fmt.Println("locks in the store:", store.Len())
	// Output:
	// a: true
	// b: false
	// b waited: <nil>
	// locks in the store: 1
}

// A store on a clock that the test moves lets a lock expire without
// sleeping through its ttl. Waits, leases and keep-alives still run on real
// time.
func ExampleOptions_clock() {
	ctx := context.Background()
	var now atomic.Int64 // the store's clock, in Unix nanoseconds: still until moved
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	store := memory.NewStore(&memory.Options{
		Now: func() time.Time { return time.Unix(0, now.Load()) },
	})
	a, b := store.Lock(), store.Lock()
	defer a.Close()
	defer b.Close()

	lease, err := a.TryAcquire(ctx, "job", time.Hour)
	if err != nil {
		panic(err)
	}
	_, err = b.TryAcquire(ctx, "job", time.Hour)
	fmt.Println("b refused before the ttl:", errors.Is(err, lock.ErrNotAcquired))

	now.Add(int64(time.Hour)) // an hour passes on the store's clock
	_, err = b.TryAcquire(ctx, "job", time.Hour)
	fmt.Println("b after the ttl:", err)
	fmt.Println("a's release finds it not held:", errors.Is(lease.Release(ctx), lock.ErrNotHeld))
	// Output:
	// b refused before the ttl: true
	// b after the ttl: <nil>
	// a's release finds it not held: true
}

// Every acquisition gets a fencing token, which only grows: a resource that
// refuses a token lower than one it has seen refuses a holder whose lock
// expired and was taken over.
func Example_fencing() {
	ctx := context.Background()
	l := memory.New(nil)
	defer l.Close()

	first, err := l.TryAcquire(ctx, "ledger", time.Minute)
	if err != nil {
		panic(err)
	}
	fence, ok := first.Fence()
	fmt.Println("first:", fence, ok)
	_ = first.Release(ctx)

	second, err := l.TryAcquire(ctx, "ledger", time.Minute)
	if err != nil {
		panic(err)
	}
	fence, ok = second.Fence()
	fmt.Println("second:", fence, ok)
	_ = second.Release(ctx)
	// Output:
	// first: 1 true
	// second: 2 true
}

// Importing the package registers memory://. Every URL with the same name
// shares one store for the life of the process.
func Example_open() {
	ctx := context.Background()
	a, err := lock.Open(ctx, "memory://jobs?retry_timeout=10ms")
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := lock.Open(ctx, "memory://jobs")
	if err != nil {
		panic(err)
	}
	defer b.Close()
	other, err := lock.Open(ctx, "memory://reports")
	if err != nil {
		panic(err)
	}
	defer other.Close()

	ok, _ := a.TryAcquireLock(ctx, "nightly", time.Minute)
	fmt.Println("a on jobs:", ok)
	ok, _ = b.TryAcquireLock(ctx, "nightly", time.Minute)
	fmt.Println("b on jobs:", ok)
	ok, _ = other.TryAcquireLock(ctx, "nightly", time.Minute)
	fmt.Println("other store:", ok)
	// Output:
	// a on jobs: true
	// b on jobs: false
	// other store: true
}
