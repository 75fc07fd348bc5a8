package redis

import (
	"context"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// watcher implements driver.Watcher: release.lua publishes on the lock key's
// name (a channel; channels and keys are separate namespaces), and a wait
// subscribes to it, through one pub/sub connection per Lock, made when the
// first wait starts. Subscribing happens aside, in a goroutine, so that a
// wait never waits for it: a release that comes before its subscription is
// active is noticed by the wait's next poll, as an expiry is.
type watcher struct {
	c    goredis.UniversalClient
	idle time.Duration // idleChannel, but in tests

	mu     sync.Mutex
	waits  map[string]chan struct{} // by channel: closed at the next release
	subs   map[string]time.Time     // channels subscribed or asked for, and when last watched
	active map[string]bool          // channels whose SUBSCRIBE was sent
	ps     *goredis.PubSub          // nil until the first Watch
	closed bool
	kick   chan struct{} // wakes the subscriber
	done   chan struct{} // closed by close
	wg     sync.WaitGroup
}

// idleChannel is how long a channel stays subscribed after its last wait.
const idleChannel = time.Minute

func newWatcher(c goredis.UniversalClient) *watcher {
	return &watcher{
		c:      c,
		idle:   idleChannel,
		waits:  make(map[string]chan struct{}),
		subs:   make(map[string]time.Time),
		active: make(map[string]bool),
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// watch returns a channel closed at the next release of the lock key k
// (prefix included) that this watcher hears of.
func (w *watcher) watch(k string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return closedChan
	}
	ch, ok := w.waits[k]
	if !ok {
		ch = make(chan struct{})
		w.waits[k] = ch
	}
	_, subscribed := w.subs[k]
	w.subs[k] = time.Now()
	if w.ps == nil {
		w.ps = w.c.Subscribe(context.Background())
		w.wg.Add(2)
		go w.receive(w.ps.Channel())
		go w.subscribe()
	}
	if !subscribed {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return ch
}

// subscribed reports whether the SUBSCRIBE to the releases of k was sent:
// a release published after the server reads it wakes the waits on k.
func (w *watcher) subscribed(k string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.active[k]
}

// receive wakes the waits of each channel a message arrives on.
func (w *watcher) receive(msgs <-chan *goredis.Message) {
	defer w.wg.Done()
	for m := range msgs {
		w.mu.Lock()
		if ch, ok := w.waits[m.Channel]; ok {
			close(ch)
			delete(w.waits, m.Channel)
		}
		w.mu.Unlock()
	}
}

// subscribe subscribes the channels asked for, and unsubscribes those idle
// for w.idle (waking their stale waits, which then poll).
func (w *watcher) subscribe() {
	defer w.wg.Done()
	sweep := time.NewTicker(w.idle)
	defer sweep.Stop()
	active := make(map[string]bool) // asked for, as w.active once sent
	for {
		select {
		case <-w.done:
			return
		case <-w.kick:
		case <-sweep.C:
		}
		var add, drop []string
		now := time.Now()
		w.mu.Lock()
		for k, last := range w.subs {
			switch {
			case now.Sub(last) > w.idle:
				delete(w.subs, k)
				if ch, ok := w.waits[k]; ok {
					close(ch)
					delete(w.waits, k)
				}
				if active[k] {
					drop = append(drop, k)
					delete(active, k)
					delete(w.active, k)
				}
			case !active[k]:
				add = append(add, k)
				active[k] = true
			}
		}
		ps := w.ps
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if len(add) > 0 {
			err := ps.Subscribe(ctx, add...)
			w.mu.Lock()
			for _, k := range add {
				if err != nil {
					delete(active, k) // asked again at the next kick or sweep
				} else if _, ok := w.subs[k]; ok {
					w.active[k] = true
				}
			}
			w.mu.Unlock()
		}
		if len(drop) > 0 {
			_ = ps.Unsubscribe(ctx, drop...)
		}
		cancel()
	}
}

// close ends the subscription and its goroutines, and wakes every wait.
func (w *watcher) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	for k, ch := range w.waits {
		close(ch)
		delete(w.waits, k)
	}
	ps := w.ps
	w.mu.Unlock()
	close(w.done)
	if ps != nil {
		_ = ps.Close()
	}
	w.wg.Wait()
}
