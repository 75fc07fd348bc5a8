package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/distlock/lock"
	"github.com/distlock/lock/postgres"
)

// The examples need a PostgreSQL server, so they are compiled but not run.

// New makes a Lock over a pgx pool you already have, creating its table
// if it is missing. The pool stays yours: the Lock's Close does not close
// it. Every acquisition gets a fencing token, greater than those of the
// key's earlier acquisitions, for the resource the lock protects to check.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL")) // postgres://app:secret@db.example:5432/app
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	l, err := postgres.New(ctx, pool, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	lease, err := l.Acquire(ctx, "invoice:42", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fence, _ := lease.Fence()
	fmt.Println("holding invoice:42 with fence", fence)
	if err := lease.Release(ctx); err != nil {
		log.Fatal(err)
	}
}

// Importing the package registers postgres:// and postgresql://; a program
// that only opens URLs imports it for that alone:
//
//	import _ "github.com/distlock/lock/postgres"
//
// The URL
// takes pgx's parameters and this package's (table, prefix, create_table,
// listen, timeout); the Lock that lock.Open returns owns its pool, and
// closes it on Close.
func Example_open() {
	ctx := context.Background()
	l, err := lock.Open(ctx, "postgres://app:secret@db.example:5432/app?table=locks&prefix=myapp:")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ok, err := l.TryAcquireLock(ctx, "nightly", time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	if !ok {
		fmt.Println("another process runs the nightly job")
		return
	}
	defer l.ReleaseLock(ctx, "nightly")
	fmt.Println("running the nightly job")
}
