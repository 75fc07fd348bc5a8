package lock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memory" // also registers memory://
)

// Two Lock values on one store contend as two processes would.
func Example() {
	ctx := context.Background()
	a, err := lock.Open(ctx, "memory://example")
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := lock.Open(ctx, "memory://example")
	if err != nil {
		panic(err)
	}
	defer b.Close()

	ok, _ := a.TryAcquireLock(ctx, "report:2026-11", time.Minute)
	fmt.Println("a acquired:", ok)
	ok, _ = b.TryAcquireLock(ctx, "report:2026-11", time.Minute)
	fmt.Println("b acquired:", ok)

	_ = a.ReleaseLock(ctx, "report:2026-11")
	err = b.AcquireLock(ctx, "report:2026-11", time.Minute, time.Second)
	fmt.Println("b after a's release:", err)
	// Output:
	// a acquired: true
	// b acquired: false
	// b after a's release: <nil>
}

// Open picks the backend by the URL's scheme: importing a backend's package
// registers its scheme. Two Lock values opened on one store contend as two
// processes would.
func ExampleOpen() {
	ctx := context.Background()
	l, err := lock.Open(ctx, "memory://open-example")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	other, err := lock.Open(ctx, "memory://open-example")
	if err != nil {
		panic(err)
	}
	defer other.Close()

	ok, err := l.TryAcquireLock(ctx, "report", time.Minute)
	fmt.Println("l acquired:", ok, err)
	ok, err = other.TryAcquireLock(ctx, "report", time.Minute)
	fmt.Println("other acquired:", ok, err)

	_, err = lock.Open(ctx, "nosuch://host")
	fmt.Println("unknown scheme fails:", err != nil)
	// Output:
	// l acquired: true <nil>
	// other acquired: false <nil>
	// unknown scheme fails: true
}

// A Lease carries its own ownership token: goroutines sharing a Lock value
// each release exactly what they acquired.
func ExampleLock_Acquire() {
	ctx := context.Background()
	l, err := lock.Open(ctx, "memory://")
	if err != nil {
		panic(err)
	}
	defer l.Close()

	lease, err := l.Acquire(ctx, "invoice:42", 10*time.Second)
	if err != nil {
		panic(err)
	}
	// ... work; extend the lease if the work runs long.
	if err := lease.Extend(ctx, 10*time.Second); err != nil {
		fmt.Println("lost the lock:", err)
	}
	fmt.Println("released:", lease.Release(ctx))
	fmt.Println("released again:", errors.Is(lease.Release(ctx), lock.ErrNotHeld))
	// Output:
	// released: <nil>
	// released again: true
}

// A wait ends at its timeout with an error that matches both ErrNotAcquired
// and context.DeadlineExceeded.
func ExampleLock_AcquireLock_timeout() {
	ctx := context.Background()
	l, _ := lock.Open(ctx, "memory://timeout-example")
	defer l.Close()
	other, _ := lock.Open(ctx, "memory://timeout-example")
	defer other.Close()

	_, _ = other.TryAcquireLock(ctx, "job", time.Minute)
	err := l.AcquireLock(ctx, "job", time.Minute, 50*time.Millisecond)
	fmt.Println(errors.Is(err, lock.ErrNotAcquired), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// true true
}

// The calls at a glance; the README shows this example.
func Example_glance() {
	ctx := context.Background()
	l, err := lock.Open(ctx, "memory://glance") // or "memcached://cache1:11211,cache2:11211?prefix=myapp:"
	if err != nil {
		panic(err)
	}
	defer l.Close() // releases whatever l still holds

	// Do: wait for the lock, keep it alive while fn runs, release after.
	err = lock.Do(ctx, l, "invoice:42", 30*time.Second, func(ctx context.Context) error {
		return nil // the work; ctx is cancelled if the lock is lost
	})
	fmt.Println(err)

	// TryDo: run only if no one else is running it (a scheduled job).
	err = lock.TryDo(ctx, l, "nightly-report", time.Minute, func(ctx context.Context) error { return nil })
	fmt.Println(errors.Is(err, lock.ErrNotAcquired)) // true when another instance holds it

	// Leases: each acquisition has its own token; safe when goroutines share l.
	lease, err := l.Acquire(ctx, "invoice:42", 30*time.Second) // waits until acquired or ctx is done
	if err != nil {
		panic(err)
	}
	defer lease.Release(ctx)
	err = lease.KeepAlive(ctx, 0) // extends every ttl/3; lease.Done() is closed if the lock is lost
	fmt.Println(err, lease.Err())

	// Classic calls: the Lock value is the owner.
	ok, err := l.TryAcquireLock(ctx, "report:2026-11", time.Minute) // one attempt
	fmt.Println(ok, err)
	err = l.AcquireLock(ctx, "report:2026-11", time.Minute, 50*time.Millisecond) // waits up to 50ms
	fmt.Println(errors.Is(err, lock.ErrNotAcquired))                             // held by l itself: not re-entrant
	err = l.ReleaseLock(ctx, "report:2026-11")
	fmt.Println(err)
	// Output:
	// <nil>
	// false
	// <nil> <nil>
	// true <nil>
	// true
	// <nil>
}

// Do runs a function under a lock kept alive for as long as it runs, and
// cancels its ctx if the lock is lost.
func ExampleDo() {
	ctx := context.Background()
	store := memory.NewStore(nil)
	l := store.Lock()
	defer l.Close()

	err := lock.Do(ctx, l, "invoice:42", 300*time.Millisecond, func(ctx context.Context) error {
		lease := lock.LeaseFromContext(ctx)
		// Work for several ttls: the lock is extended every 100ms.
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return context.Cause(ctx) // matches lock.ErrNotHeld
		}
		fmt.Println("still held:", lease.Err() == nil)
		return nil
	})
	fmt.Println("Do:", err)

	// A second instance skips a job that is running.
	other := store.Lock()
	defer other.Close()
	_ = lock.Do(ctx, l, "nightly", time.Minute, func(ctx context.Context) error {
		err := lock.TryDo(ctx, other, "nightly", time.Minute, func(context.Context) error { return nil })
		fmt.Println("other instance:", errors.Is(err, lock.ErrNotAcquired))
		return nil
	})
	// Output:
	// still held: true
	// Do: <nil>
	// other instance: true
}

// fencedStore is a resource that a lock protects: it keeps the highest
// fencing token it has seen, and refuses writes that carry a lower one.
type fencedStore struct {
	highest uint64
	value   string
}

func (r *fencedStore) write(fence uint64, value string) error {
	if fence < r.highest {
		return fmt.Errorf("stale fencing token %d: %d has written since", fence, r.highest)
	}
	r.highest, r.value = fence, value
	return nil
}

// A holder paused past its ttl finds, on waking, that another owner has
// taken the lock; with fencing tokens, the resource refuses its late write.
func ExampleLease_Fence() {
	ctx := context.Background()
	store := memory.NewStore(nil)
	a, b := store.Lock(), store.Lock()
	defer a.Close()
	defer b.Close()
	var res fencedStore

	first, _ := a.TryAcquire(ctx, "report", 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond) // a pause past the ttl: the lock expires
	second, _ := b.TryAcquire(ctx, "report", time.Minute)

	f2, _ := second.Fence()
	fmt.Println("second:", res.write(f2, "from b"))
	f1, ok := first.Fence()
	fmt.Println("first, late:", ok, res.write(f1, "from a") != nil)
	fmt.Println("value:", res.value)
	// Output:
	// second: <nil>
	// first, late: true true
	// value: from b
}

// Extend moves a lease's deadline to ttl from the start of the call, so
// work that runs long keeps its lock (KeepAlive does this in the
// background). A lease that has ended cannot be extended.
func ExampleLease_Extend() {
	ctx := context.Background()
	l, err := lock.Open(ctx, "memory://extend-example")
	if err != nil {
		panic(err)
	}
	defer l.Close()

	lease, err := l.Acquire(ctx, "invoice:42", time.Second)
	if err != nil {
		panic(err)
	}
	before := lease.Deadline()
	if err := lease.Extend(ctx, time.Minute); err != nil {
		fmt.Println("lost the lock:", err)
	}
	fmt.Println("deadline moved by about a minute:", lease.Deadline().Sub(before) > 50*time.Second)
	fmt.Println("ttl 0:", errors.Is(lease.Extend(ctx, 0), lock.ErrInvalidTTL))

	_ = lease.Release(ctx)
	fmt.Println("after release:", errors.Is(lease.Extend(ctx, time.Minute), lock.ErrNotHeld))
	// Output:
	// deadline moved by about a minute: true
	// ttl 0: true
	// after release: true
}
