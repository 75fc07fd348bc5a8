package postgres

import (
	"context"

	"github.com/distlock/lock"
)

// Stored returns the key that a Lock with prefix stores for key.
func Stored(prefix, key string) []byte { return (&backend{prefix: prefix}).stored(key) }

// Sweep runs one statement of l's sweep now, and returns the rows deleted.
func Sweep(ctx context.Context, l lock.Lock) (int64, error) {
	return lock.Driver(l).(*backend).sweepOnce(ctx)
}
