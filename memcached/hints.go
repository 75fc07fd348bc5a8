package memcached

import (
	"github.com/distlock/lock/memcached/internal/mc"
	"sync"
	"time"
)

// casHints remembers, for each lock the meta backend acquired or extended,
// the cas id the server gave it and the server process that gave it, so
// that the next release or extend compares it at once instead of reading
// the item first. A hint is only a shortcut: one that is missing, stale or
// from another server process costs a read, never a wrong answer, since
// every command sent with it is checked by the server against the item's
// current cas id.
//
// The hints are keyed by native key: a Lock holds a key once at a time, and
// a hint for an older token of the key is of no more use. They are dropped
// when their lock is released or found not held, and pruned, when they
// grow, once their lock has expired.
type casHints struct {
	mu    sync.Mutex
	m     map[string]casHint
	prune int // the size of m at which expired hints are next dropped
}

type casHint struct {
	token string
	cas   uint64
	id    mc.ServerID
	until time.Time // the lock's expiry at the latest: the hint is useless after it
	fence uint64    // the fencing token the acquisition was given; 0: none, or unknown
}

// maxHints bounds the hints kept: past it, hints are dropped at random.
const maxHints = 1 << 16

// get returns the cas id remembered for token under native, if it was given
// by the server process id; otherwise 0.
func (h *casHints) get(native, token string, id mc.ServerID) uint64 {
	if id == (mc.ServerID{}) {
		return 0
	}
	h.mu.Lock()
	e, ok := h.m[native]
	h.mu.Unlock()
	if !ok || e.token != token || e.id != id {
		return 0
	}
	return e.cas
}

// put remembers cas, given by the server process id, for token under
// native, which stores it with expiration exp, and fence, the fencing
// token of the acquisition: 0 keeps the one remembered for token, if any.
func (h *casHints) put(native, token string, cas uint64, id mc.ServerID, exp int32, fence uint64) {
	if cas == 0 || id == (mc.ServerID{}) {
		h.drop(native, token)
		return
	}
	e := casHint{token: token, cas: cas, id: id, until: time.Now().Add(time.Duration(exp) * time.Second), fence: fence}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[string]casHint)
	}
	if old, ok := h.m[native]; ok && old.token == token && fence == 0 {
		e.fence = old.fence
	}
	if len(h.m) >= h.prune {
		h.pruneLocked()
	}
	h.m[native] = e
}

// fence returns the fencing token remembered for token under native, or 0.
// Unlike a cas id, it stays true across a restart of the server: it is the
// acquisition's, whatever became of its lock.
func (h *casHints) fence(native, token string) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.m[native]; ok && e.token == token {
		return e.fence
	}
	return 0
}

// setFence remembers fence for token under native, if a hint for token is
// kept.
func (h *casHints) setFence(native, token string, fence uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.m[native]; ok && e.token == token {
		e.fence = fence
		h.m[native] = e
	}
}

// drop forgets the hint for token under native.
func (h *casHints) drop(native, token string) {
	h.mu.Lock()
	if e, ok := h.m[native]; ok && e.token == token {
		delete(h.m, native)
	}
	h.mu.Unlock()
}

// pruneLocked drops the hints of expired locks, and random ones while
// there are too many. The caller holds h.mu.
func (h *casHints) pruneLocked() {
	now := time.Now()
	for k, e := range h.m {
		if now.After(e.until) {
			delete(h.m, k)
		}
	}
	for k := range h.m {
		if len(h.m) < maxHints*3/4 {
			break
		}
		delete(h.m, k)
	}
	h.prune = min(max(1024, 2*len(h.m)), maxHints)
}

// len returns the number of hints, for tests.
func (h *casHints) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}
