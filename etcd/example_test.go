package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distlock/lock"
	"github.com/distlock/lock/etcd"
)

// New makes a Lock over an etcd client you already have. The client stays
// yours: the Lock's Close does not close it. The fence of a lease (the
// revision at which etcd created its key) grows with each holder: pass it
// to the resource the lock guards, so that it refuses a stale holder.
func ExampleNew() {
	ctx := context.Background()
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"127.0.0.1:2379", "127.0.0.1:22379", "127.0.0.1:32379"},
		DialTimeout: 2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	l, err := etcd.New(client, nil) // nil: the defaults, keys under etcd.DefaultPrefix
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	lease, err := l.Acquire(ctx, "invoice:42", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	if fence, ok := lease.Fence(); ok {
		fmt.Println("holding invoice:42, fence", fence)
	}
	// ... work on invoice 42, passing the fence along ...
	if err := lease.Release(ctx); err != nil {
		log.Print(err) // ErrNotHeld: the lock expired, or was deleted, meanwhile
	}
}

// Importing the package registers etcd:// and etcds://. The Lock that
// lock.Open returns owns its client, and closes it on Close. Open fails if
// the cluster does not answer within dial_timeout (2s by default).
func Example_open() {
	ctx := context.Background()
	l, err := lock.Open(ctx, "etcd://127.0.0.1:2379?prefix=myapp/")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	lease, err := l.TryAcquire(ctx, "nightly-report", time.Minute)
	switch {
	case err == nil:
		defer lease.Release(ctx)
		fmt.Println("running the nightly report")
	case errors.Is(err, lock.ErrNotAcquired):
		fmt.Println("another instance runs it")
	default:
		log.Fatal(err)
	}
}
