package lock

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/distlock/lock/driver"
)

// A Lock keeps its leases alive with one scheduler, not a goroutine per
// lease: the keeper holds the kept-alive leases in a heap by the time of
// their next extend, and one goroutine sleeps until the earliest. The
// extends that fall due together (within a few milliseconds) are sent
// together: as one batch from a goroutine of its own where the backend is
// a driver.BatchExtender, otherwise each from a short-lived goroutine; at
// most maxExtendsInFlight batches or extends at once. A lease is extended one call at a time, as before: its
// next extend is scheduled when the last one returns.

// maxExtendsInFlight bounds the extends a Lock's keeper runs at once.
const maxExtendsInFlight = 4096

// batchSlack is how early an extend may be sent, to go out with others: at
// most this, and a quarter of the lease's interval.
const batchSlack = 10 * time.Millisecond

// keepState is a lease's keep-alive. ctx, stop and interval do not change;
// the rest is under keeper.mu while the lease is in the heap, and its
// extend's own while not.
type keepState struct {
	ctx      context.Context // ends the keep-alive
	stop     context.CancelFunc
	interval time.Duration // 0: ttl/3
	next     time.Time     // of the next extend
	slack    time.Duration // how early it may be sent
	bo       backoff       // of the retries while failing
	failing  bool
	index    int // in the heap; -1 when out of it
}

// keeper schedules the extends of a Lock's kept-alive leases.
type keeper struct {
	l       *locker
	mu      sync.Mutex
	leases  keepHeap
	started bool
	kick    chan struct{} // a lease went to the top of the heap
	sem     chan struct{} // extends in flight
}

func newKeeper(l *locker) *keeper {
	return &keeper{l: l, kick: make(chan struct{}, 1), sem: make(chan struct{}, maxExtendsInFlight)}
}

// add starts the keep-alive of le, which holds le.ka. The caller is
// between the Lock's enter and exit.
func (k *keeper) add(le *Lease) {
	k.mu.Lock()
	if !k.started {
		k.started = true
		k.l.goBackground(k.run)
	}
	k.mu.Unlock()
	k.schedule(le)
}

// schedule computes le's next extend, as the last successful one's start
// plus the interval, or a backoff pause from now while failing, and puts
// le in the heap.
func (k *keeper) schedule(le *Lease) {
	le.mu.Lock()
	ttl, deadline := le.ttl, le.deadline
	le.mu.Unlock()
	k.mu.Lock()
	ka := le.ka
	every := ka.interval
	if every == 0 {
		every = ttl / 3
	}
	ka.slack = min(batchSlack, every/4)
	if ka.failing {
		ka.next = time.Now().Add(ka.bo.next())
	} else {
		ka.next = deadline.Add(every - ttl)
	}
	heap.Push(&k.leases, le)
	top := k.leases[0] == le
	k.mu.Unlock()
	if top {
		select {
		case k.kick <- struct{}{}:
		default:
		}
	}
}

// run is the keeper's goroutine: it sends the extends that fall due, until
// the Lock closes.
func (k *keeper) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*Lease
	for {
		k.mu.Lock()
		now := time.Now()
		due = due[:0]
		for len(k.leases) > 0 {
			top := k.leases[0]
			if top.ka.next.After(now.Add(top.ka.slack)) {
				break
			}
			due = append(due, heap.Pop(&k.leases).(*Lease))
		}
		wait := time.Hour
		if len(k.leases) > 0 {
			wait = k.leases[0].ka.next.Sub(now)
		}
		k.mu.Unlock()
		if k.l.batch != nil && len(due) > 1 {
			if !k.dispatchBatch(due) {
				return
			}
			due = make([]*Lease, 0, len(due)) // the batch keeps the old one
		}
		for i, le := range due {
			due[i] = nil
			if !k.dispatch(le) {
				return
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-k.kick:
		case <-k.l.closing():
			return
		}
	}
}

// dispatch sends le's extend from a goroutine of its own, unless its
// keep-alive has ended. It reports false once the Lock is closing.
func (k *keeper) dispatch(le *Lease) bool {
	if le.ka.ctx.Err() != nil || le.ended() {
		return true
	}
	return k.spawn(func() {
		if le.extendOnce() {
			k.schedule(le)
		}
	})
}

// dispatchBatch sends the extends of leases as one batch, from a
// goroutine of its own. A lease whose Release or Extend is in flight goes
// on its own instead. It reports false once the Lock is closing.
func (k *keeper) dispatchBatch(leases []*Lease) bool {
	return k.spawn(func() { k.extendBatch(leases) })
}

// spawn runs f in a goroutine that Close waits for, once fewer than
// maxExtendsInFlight run. It reports false once the Lock is closing.
func (k *keeper) spawn(f func()) bool {
	select {
	case k.sem <- struct{}{}:
	case <-k.l.closing():
		return false
	}
	if !k.l.enter() {
		<-k.sem
		return false
	}
	k.l.goBackground(func() {
		defer func() { <-k.sem }()
		f()
	})
	k.l.exit()
	return true
}

// extendBatch extends leases in one call to the store, each bounded by
// the earliest of their deadlines, and schedules each next extend.
func (k *keeper) extendBatch(leases []*Lease) {
	var (
		batch    = make([]driver.Extension, 0, len(leases))
		in       = leases[:0] // the leases in batch, in its order
		alone    []*Lease
		earliest time.Time
	)
	for _, le := range leases {
		if le.ka.ctx.Err() != nil {
			continue
		}
		if !le.callMu.TryLock() {
			alone = append(alone, le)
			continue
		}
		if le.Err() != nil {
			le.callMu.Unlock()
			continue
		}
		le.mu.Lock()
		ttl, deadline := le.ttl, le.deadline
		le.mu.Unlock()
		if earliest.IsZero() || deadline.Before(earliest) {
			earliest = deadline
		}
		batch = append(batch, driver.Extension{Key: le.key, Token: le.token, TTL: ttl})
		in = append(in, le)
	}
	for _, le := range alone {
		if le.extendOnce() {
			k.schedule(le)
		}
	}
	if len(in) == 0 {
		return
	}
	unlock := func() {
		for _, le := range in {
			le.callMu.Unlock()
		}
	}
	if !k.l.enter() {
		unlock()
		return
	}
	ctx, cancel := context.WithDeadline(k.l.bgCtx, earliest)
	start := time.Now()
	k.l.batch.ExtendBatch(ctx, batch)
	cancel()
	k.l.exit()
	for i, le := range in {
		x := &batch[i]
		err := le.settleExtend(start, x.TTL, x.OK, classify(x.Err))
		le.callMu.Unlock()
		if le.keepOn(x.TTL, err) {
			k.schedule(le)
		}
	}
}

// ended reports whether the lease has ended.
func (le *Lease) ended() bool {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.err != nil
}

// extendOnce makes one extend of a kept-alive lease, bounded by its
// deadline, and reports whether the keep-alive goes on. Failures in
// transit are retried, with backoff, until the deadline; an error that
// retrying cannot fix ends the lease.
func (le *Lease) extendOnce() bool {
	ka := le.ka
	le.mu.Lock()
	ttl, deadline := le.ttl, le.deadline
	le.mu.Unlock()
	// No extend may outlive the deadline: the lease ends there.
	ectx, cancel := context.WithDeadline(ka.ctx, deadline)
	err := le.extend(ectx, ttl)
	cancel()
	return le.keepOn(ttl, err)
}

// keepOn deals with the outcome of a keep-alive's extend, and reports
// whether the keep-alive goes on.
func (le *Lease) keepOn(ttl time.Duration, err error) bool {
	ka := le.ka
	switch {
	case err == nil:
		ka.failing = false
		return true
	case errors.Is(err, ErrNotHeld) || errors.Is(err, ErrClosed) || ka.ctx.Err() != nil:
		if errors.Is(err, ErrNotHeld) && !errors.Is(err, errReleased) {
			le.locker.log(slog.LevelWarn, "lock lost", le.key, err)
		}
		return false
	default:
		// A failure in transit, or any error that does not say the lock
		// is gone (an error reply, a pool timeout, a store refusing writes
		// for now): the store may still hold the lock, so the lease keeps
		// it until its deadline, retrying, and then ends as expired, not
		// before.
		if !ka.failing {
			every := ka.interval
			if every == 0 {
				every = ttl / 3
			}
			ka.bo = backoff{max: min(max(every/8, time.Millisecond), time.Second)}
		}
		ka.failing = true
		le.mu.Lock()
		le.lastErr = err
		le.mu.Unlock()
		level := slog.LevelInfo
		if !inTransit(err) && !errors.Is(err, context.DeadlineExceeded) {
			level = slog.LevelWarn // not a blip: worth a look
		}
		le.locker.log(level, "lock keep-alive extend failed; retrying until the lease's deadline", le.key, err)
		return true
	}
}

// keepHeap orders kept-alive leases by their next extend.
type keepHeap []*Lease

func (h keepHeap) Len() int           { return len(h) }
func (h keepHeap) Less(i, j int) bool { return h[i].ka.next.Before(h[j].ka.next) }
func (h keepHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].ka.index, h[j].ka.index = i, j
}
func (h *keepHeap) Push(x any) {
	le := x.(*Lease)
	le.ka.index = len(*h)
	*h = append(*h, le)
}
func (h *keepHeap) Pop() any {
	old := *h
	le := old[len(old)-1]
	old[len(old)-1] = nil
	le.ka.index = -1
	*h = old[:len(old)-1]
	return le
}
