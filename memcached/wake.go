package memcached

import (
	"fmt"
	"github.com/distlock/lock/memcached/internal/mc"
	"sync"
	"sync/atomic"
	"time"
)

// memcached cannot tell a client that a key was deleted, so a wait on
// another process's release, or on an expiry, polls. Releases made in this
// process are known here, though: a release through any Lock of the
// process wakes at once the waits of the process on the same key of the
// same servers, as the memory backend's waits are woken.

// wakes holds the channels of the waits of this process on one scope (a
// set of servers), by native key; wake closes them. It is the Watch half of
// driver.Watcher for both kinds of Lock.
type wakes struct {
	scope string // its key in scopes
	now   func() time.Time
	refs  int          // open Locks of the scope, under scopes' mutex
	n     atomic.Int32 // len(waits): a release with no waits takes no lock

	mu      sync.Mutex
	waits   map[string]waitEntry
	pruneAt int // len(waits) at which stale entries are next dropped
}

type waitEntry struct {
	ch   chan struct{} // closed at the next release of the key
	last time.Time     // when a wait last asked for ch
}

// staleWait is how long an entry lasts that no wait asks for. A wait asks
// again before each attempt, and its pauses are at most its retry interval:
// an older entry's waits have ended, or gave up the key for a poll. Closing
// it wakes a wait still on it early, which costs one attempt, no more.
const staleWait = time.Minute

func newWakes(now func() time.Time) *wakes {
	return &wakes{now: now, waits: make(map[string]waitEntry)}
}

// scopes holds the wakes of each scope that open Locks use.
var scopes = struct {
	sync.Mutex
	m map[string]*wakes
}{m: make(map[string]*wakes)}

// openScope returns the wakes of scope, for a new Lock, which calls close
// when it closes.
func openScope(scope string) *wakes {
	scopes.Lock()
	defer scopes.Unlock()
	w, ok := scopes.m[scope]
	if !ok {
		w = newWakes(time.Now)
		w.scope = scope
		scopes.m[scope] = w
	}
	w.refs++
	return w
}

// close ends a Lock's use of w, made by openScope.
func (w *wakes) close() {
	scopes.Lock()
	defer scopes.Unlock()
	if w.refs--; w.refs == 0 {
		delete(scopes.m, w.scope) // its waits were the closed Locks'
	}
}

// watch returns a channel closed at the next release of k in this process.
func (w *wakes) watch(k string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	e, ok := w.waits[k]
	if !ok {
		if len(w.waits) >= w.pruneAt {
			w.pruneLocked(now)
			w.pruneAt = max(64, 2*len(w.waits))
		}
		e.ch = make(chan struct{})
	}
	e.last = now
	w.waits[k] = e
	w.n.Store(int32(len(w.waits)))
	return e.ch
}

// wake wakes the waits on k. A wait that watch has not yet counted makes
// its attempt after the release, so it does not need the wake.
func (w *wakes) wake(k string) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	if e, ok := w.waits[k]; ok {
		close(e.ch)
		delete(w.waits, k)
		w.n.Store(int32(len(w.waits)))
	}
	w.mu.Unlock()
}

// pruneLocked closes and drops the entries not asked for in staleWait; the
// caller holds w.mu.
func (w *wakes) pruneLocked(now time.Time) {
	for k, e := range w.waits {
		if now.Sub(e.last) > staleWait {
			close(e.ch)
			delete(w.waits, k)
		}
	}
}

// len returns the number of keys with waits, for tests.
func (w *wakes) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waits)
}

// selectorScope names the servers of a Lock made by Dial or Open: the same
// servers, however listed, give the same scope.
func selectorScope(s mc.Servers) string { return "servers " + s.Scope() }

// clientScope names the servers of a Lock made by New: its client's, which
// this package cannot read, so the client itself stands for them.
func clientScope(c any) string { return fmt.Sprintf("client %p", c) }
