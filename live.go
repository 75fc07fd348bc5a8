package lock

import (
	"time"
)

// The live leases of a Lock, which Close releases: a list through the
// leases themselves, pruned of those long past their deadline.

// staleAfter is how long after its deadline a lease that was never
// released is dropped from the Lock's records: long past any backend's
// expiry granularity, so a ReleaseLock until then still says ErrNotHeld.
const staleAfter = time.Minute

// addLive records le among the leases Close releases. Callers that let
// locks expire instead of releasing them must not grow the records without
// bound: stale leases are pruned each time the list doubles.
func (l *locker) addLive(le *Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.link(le)
	if l.nLive >= l.pruneAt {
		l.pruneStaleLocked()
		l.pruneAt = max(64, 2*l.nLive)
	}
}

// pruneStaleLocked drops the leases past their deadline by more than
// staleAfter from l.live and l.held; the caller holds l.mu.
func (l *locker) pruneStaleLocked() {
	now := time.Now()
	for le := l.live; le != nil; {
		next := le.next
		if now.Sub(le.Deadline()) > staleAfter {
			l.unlink(le)
			if l.held[le.key] == le {
				delete(l.held, le.key)
			}
		}
		le = next
	}
}

// removeLive drops le, which the store can no longer hold, from the leases
// Close releases.
func (l *locker) removeLive(le *Lease) {
	l.mu.Lock()
	l.unlink(le)
	l.mu.Unlock()
}

// link adds le to l.live; the caller holds l.mu.
func (l *locker) link(le *Lease) {
	le.linked, le.prev, le.next = true, nil, l.live
	if l.live != nil {
		l.live.prev = le
	}
	l.live = le
	l.nLive++
}

// unlink removes le from l.live, if there; the caller holds l.mu.
func (l *locker) unlink(le *Lease) {
	if !le.linked {
		return
	}
	if le.prev != nil {
		le.prev.next = le.next
	} else {
		l.live = le.next
	}
	if le.next != nil {
		le.next.prev = le.prev
	}
	le.linked, le.prev, le.next = false, nil, nil
	l.nLive--
}
