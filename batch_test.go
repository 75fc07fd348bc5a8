package lock_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/driver"
	"github.com/distlock/lock/internal/leasecheck"
)

// batchBackend extends in batches, counting them.
type batchBackend struct {
	*mapBackend
	batches, batched atomic.Int32
}

func (b *batchBackend) ExtendBatch(ctx context.Context, batch []driver.Extension) {
	b.batches.Add(1)
	b.batched.Add(int32(len(batch)))
	for i := range batch {
		x := &batch[i]
		x.OK, x.Err = b.Extend(ctx, x.Key, x.Token, x.TTL)
	}
}

// TestKeepAliveBatches: leases kept alive together are extended in
// batches, all stay held past many ttls, and one whose key is deleted
// behind its back ends while the others go on.
func TestKeepAliveBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &batchBackend{mapBackend: newMap()}
		l := lock.New(b, nil)
		defer l.Close()
		const n = 100
		leases := make([]*lock.Lease, n)
		for i := range leases {
			leases[i] = keptAlive(t, l, fmt.Sprint("k", i), 3*time.Second)
		}
		time.Sleep(10 * time.Second)
		b.drop("k7")
		time.Sleep(10 * time.Second)
		leasecheck.OneLost(t, leases, 7, "20s")
		if got, batches := b.batched.Load(), b.batches.Load(); batches == 0 || batches > 21 || got < 18*n {
			t.Errorf("%d extends in %d batches in 20s; want about %d, in about 20 batches", got, batches, 19*n)
		}
	})
}
