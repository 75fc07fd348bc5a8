package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The wake-ups: a watch per key that waits are on, over the client's one
// gRPC stream, closes their channel when the key is deleted (a release, or
// its lease's expiry). A key's watch outlives its last Watch by linger, so
// the next wait on it finds it in place.

// linger is how long a key's watch lasts after its last Watch.
const linger = 30 * time.Second

type watcher struct {
	c *clientv3.Client

	mu     sync.Mutex
	keys   map[string]*watched
	closed bool
	wg     sync.WaitGroup
}

// watched is the watch of one key.
type watched struct {
	ch       chan struct{} // closed at the next delete; then replaced
	lastUsed time.Time
	cancel   context.CancelFunc
}

func newWatcher(c *clientv3.Client) *watcher {
	return &watcher{c: c, keys: make(map[string]*watched)}
}

// watch returns the channel closed when k is next deleted.
func (w *watcher) watch(k string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	e, ok := w.keys[k]
	if !ok {
		ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
		e = &watched{ch: make(chan struct{}), cancel: cancel}
		w.keys[k] = e
		w.wg.Add(1)
		go w.run(ctx, k, e)
	}
	e.lastUsed = time.Now()
	return e.ch
}

// run watches k until the watch lingers unused, or the watcher closes.
// When the watch fails (no leader, the stream cut) it wakes the waits,
// which look again, and starts over.
func (w *watcher) run(ctx context.Context, k string, e *watched) {
	defer w.wg.Done()
	t := time.NewTicker(linger / 2)
	defer t.Stop()
	for ctx.Err() == nil {
		wch := w.c.Watch(ctx, k, clientv3.WithFilterPut())
	stream:
		for {
			select {
			case resp, ok := <-wch:
				if !ok || resp.Err() != nil || resp.Canceled {
					w.wake(e)
					break stream
				}
				if len(resp.Events) > 0 {
					w.wake(e)
				}
			case <-t.C:
				w.mu.Lock()
				idle := time.Since(e.lastUsed) > linger
				if idle {
					delete(w.keys, k)
				}
				w.mu.Unlock()
				if idle {
					e.cancel()
					w.wake(e)
					return
				}
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-time.After(100 * time.Millisecond): // before watching again
		case <-ctx.Done():
		}
	}
}

// wake closes e's channel and gives it a new one.
func (w *watcher) wake(e *watched) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(e.ch)
	e.ch = make(chan struct{})
}

func (w *watcher) close() {
	w.mu.Lock()
	w.closed = true
	for _, e := range w.keys {
		e.cancel()
	}
	w.mu.Unlock()
	w.wg.Wait()
}
