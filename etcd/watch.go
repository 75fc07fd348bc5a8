package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The wake-ups and the loss signal: one watch on the Lock's prefix, over
// the client's gRPC stream, started at the first Watch or WatchHold, sees
// every key of the prefix deleted (a release, an expiry of its lease, an
// operator's delete). A delete closes the channel of the waits on its key,
// and tells the leases that held it (driver.HoldWatcher). When the watch
// fails (no leader, the stream cut) it wakes every wait, which look again,
// and resumes from the revision after the last it saw, so no delete goes
// unseen by the leases.

// idleWake is how often the watcher wakes every wait that no delete woke,
// so that the channels of keys that stay held do not pile up.
const idleWake = time.Minute

type watcher struct {
	c      *clientv3.Client
	prefix string

	mu      sync.Mutex
	waits   map[string]chan struct{}      // by etcd key; closed at its delete
	holds   map[string]map[*held]struct{} // by etcd key: the leases that hold it
	started bool
	closed  bool
	stop    context.CancelFunc
	done    chan struct{}
	checks  sync.WaitGroup  // the reads of hold, in flight
	ctx     context.Context // ends at close
}

func newWatcher(c *clientv3.Client, prefix string) *watcher {
	return &watcher{c: c, prefix: prefix, waits: make(map[string]chan struct{}), holds: make(map[string]map[*held]struct{})}
}

// startLocked starts the watch, once, from revision from (0: now); the
// caller holds w.mu.
func (w *watcher) startLocked(from int64) {
	if w.started {
		return
	}
	w.started = true
	ctx, stop := context.WithCancel(context.Background())
	w.ctx, w.stop, w.done = ctx, stop, make(chan struct{})
	go w.run(ctx, from)
}

// watch returns the channel closed when k is next deleted, or nil once
// the watcher is closed.
func (w *watcher) watch(k string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.startLocked(0)
	ch, ok := w.waits[k]
	if !ok {
		ch = make(chan struct{})
		w.waits[k] = ch
	}
	return ch
}

// held is a lease's watch of its lock.
type held struct {
	rev  int64 // the lock's create revision: an earlier delete is another's
	lost func()
}

// hold calls lost when k is deleted at a revision after rev, unless stop
// is called first. A watch it starts begins at rev+1; a watch started
// before may have passed a delete of k already, so hold then reads k, in
// the background, and calls lost if it no longer holds the lock created
// at rev.
func (w *watcher) hold(k string, rev int64, lost func()) (stop func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return func() {}
	}
	h := &held{rev: rev, lost: lost}
	if w.holds[k] == nil {
		w.holds[k] = make(map[*held]struct{})
	}
	w.holds[k][h] = struct{}{}
	if w.started {
		w.checks.Add(1)
		go w.check(k, h)
	} else {
		w.startLocked(rev + 1)
	}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if hs := w.holds[k]; hs != nil {
			delete(hs, h)
			if len(hs) == 0 {
				delete(w.holds, k)
			}
		}
	}
}

// check reads k and calls h's lost if k no longer holds the lock
// created at h.rev (h still registered); a failed read leaves it to the
// watch and the keep-alive.
func (w *watcher) check(k string, h *held) {
	defer w.checks.Done()
	ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
	defer cancel()
	resp, err := w.c.Get(ctx, k)
	if err != nil || len(resp.Kvs) == 1 && (h.rev == 0 || resp.Kvs[0].CreateRevision == h.rev) {
		return
	}
	w.mu.Lock()
	_, still := w.holds[k][h]
	if still {
		delete(w.holds[k], h)
		if len(w.holds[k]) == 0 {
			delete(w.holds, k)
		}
	}
	w.mu.Unlock()
	if still {
		h.lost()
	}
}

// run watches the prefix from revision next (0: now) until ctx ends.
func (w *watcher) run(ctx context.Context, next int64) {
	defer close(w.done)
	idle := time.NewTicker(idleWake)
	defer idle.Stop()
	for ctx.Err() == nil {
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithFilterPut()}
		if next > 0 {
			opts = append(opts, clientv3.WithRev(next))
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := w.c.Watch(wctx, w.prefix, opts...)
	stream:
		for {
			select {
			case resp, ok := <-wch:
				if !ok || resp.Canceled || resp.Err() != nil {
					if resp.CompactRevision > 0 {
						next = 0 // the deletes in between are gone; keep-alives will tell
					}
					break stream
				}
				for _, ev := range resp.Events {
					w.deleted(string(ev.Kv.Key), ev.Kv.ModRevision)
				}
				if resp.Header.Revision > 0 {
					next = resp.Header.Revision + 1
				}
			case <-idle.C:
				w.wakeAll()
			case <-ctx.Done():
				cancel()
				return
			}
		}
		cancel()
		w.wakeAll()
		select {
		case <-time.After(100 * time.Millisecond): // before watching again
		case <-ctx.Done():
		}
	}
}

// deleted wakes the waits on k and tells the leases whose lock of k was
// created before rev, the revision of the delete, that it is gone.
func (w *watcher) deleted(k string, rev int64) {
	w.mu.Lock()
	if ch, ok := w.waits[k]; ok {
		close(ch)
		delete(w.waits, k)
	}
	var lost []func()
	for h := range w.holds[k] {
		if h.rev < rev {
			lost = append(lost, h.lost)
			delete(w.holds[k], h)
		}
	}
	if len(w.holds[k]) == 0 {
		delete(w.holds, k)
	}
	w.mu.Unlock()
	for _, f := range lost {
		f() // outside w.mu: it ends a lease, which may call stop
	}
}

// wakeAll closes every wait's channel.
func (w *watcher) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, ch := range w.waits {
		close(ch)
		delete(w.waits, k)
	}
}

func (w *watcher) close() {
	w.mu.Lock()
	w.closed = true
	started := w.started
	w.mu.Unlock()
	if started {
		w.stop()
		<-w.done
		w.checks.Wait()
	}
}
