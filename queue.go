package lock

import "sync"

// The waits of a process for one key of one store form a queue, in
// arrival order: only the wait at its head asks the store, so the store
// sees the same few commands per hand-off however many goroutines wait,
// and the key goes to them in the order they began to wait. When the head
// acquires the key, the next wait becomes the head, and makes no attempt
// until that lease ends (released, lost or past its deadline): the key is
// held, in this process, until then. The waits of the Lock values whose
// backends name the same scope (driver.Scoper) share a queue; a backend
// without a scope gives each Lock value queues of its own. Waits of other
// processes, and TryAcquire, do not queue: they contend with the head as
// before.

// queues holds the queues of the process, by scope and key.
var queues = struct {
	sync.Mutex
	m map[queueKey]*waitQueue
}{m: make(map[queueKey]*waitQueue)}

type queueKey struct{ scope, key string }

// waitQueue is the queue of one key. Its fields are under queues' mutex.
type waitQueue struct {
	waits []*queuedWait // waits[0] is the head
	held  *Lease        // the lease the last head acquired, if any
}

// queuedWait is one wait in a queue.
type queuedWait struct {
	turn chan struct{} // closed when the wait becomes the head
}

// joinQueue adds a wait for key to its queue. It returns the wait, and
// nil if it is the head; otherwise the channel closed when it becomes the
// head.
func (l *locker) joinQueue(key string) (*queuedWait, <-chan struct{}) {
	queues.Lock()
	defer queues.Unlock()
	k := queueKey{l.scope, key}
	q := queues.m[k]
	if q == nil {
		q = &waitQueue{}
		queues.m[k] = q
	}
	w := &queuedWait{}
	if len(q.waits) > 0 {
		w.turn = make(chan struct{})
	}
	q.waits = append(q.waits, w)
	if w.turn == nil {
		return w, nil
	}
	return w, w.turn
}

// heldBy returns the lease that the last head of key's queue acquired, for
// the new head to wait on before its first attempt; nil if none or ended.
func (l *locker) heldBy(key string) *Lease {
	queues.Lock()
	defer queues.Unlock()
	if q := queues.m[queueKey{l.scope, key}]; q != nil {
		return q.held
	}
	return nil
}

// leaveQueue removes w from key's queue; acquired is the lease it got, if
// any. When w was the head, the next wait becomes the head.
func (l *locker) leaveQueue(key string, w *queuedWait, acquired *Lease) {
	queues.Lock()
	defer queues.Unlock()
	k := queueKey{l.scope, key}
	q := queues.m[k]
	i := 0
	for i < len(q.waits) && q.waits[i] != w {
		i++
	}
	if i == len(q.waits) {
		return
	}
	q.waits = append(q.waits[:i], q.waits[i+1:]...)
	if i != 0 {
		return
	}
	if acquired != nil {
		q.held = acquired
	}
	if len(q.waits) == 0 {
		delete(queues.m, k)
		return
	}
	close(q.waits[0].turn)
}
