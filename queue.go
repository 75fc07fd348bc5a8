package lock

// The waits of one Lock for one key form a queue, in arrival order: only
// the wait at its head asks the store, so the store sees the same few
// commands per hand-off however many goroutines wait, and the key goes to
// the goroutines of a Lock in the order they began to wait. When the head
// acquires the key, the next wait becomes the head, and makes no attempt
// until that lease ends (released, lost or past its deadline): the key is
// held, by this very Lock, until then. Waits of other Locks and processes,
// and TryAcquire, do not queue: they contend with the head as before.

// waitQueue is the queue of one key. Its fields are under locker.mu.
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
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queues == nil {
		l.queues = make(map[string]*waitQueue)
	}
	q := l.queues[key]
	if q == nil {
		q = &waitQueue{}
		l.queues[key] = q
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
	l.mu.Lock()
	defer l.mu.Unlock()
	if q := l.queues[key]; q != nil {
		return q.held
	}
	return nil
}

// leaveQueue removes w from key's queue; acquired is the lease it got, if
// any. When w was the head, the next wait becomes the head.
func (l *locker) leaveQueue(key string, w *queuedWait, acquired *Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queues[key]
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
		delete(l.queues, key)
		return
	}
	close(q.waits[0].turn)
}
