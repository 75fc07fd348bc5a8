package mc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a connection to one server, shared by every call the Client
// gives it. memcached answers the commands of a connection in the order it
// reads them, so a command is appended to what the connection writes
// next, and queued; the replies are read in order, each handed to the
// command at the head of the queue after checking that it echoes that
// command's opaque number.
//
// There is no reader goroutine: one of the calls waiting for a reply reads
// (the first to find no one reading), handing each reply to its command,
// until its own comes; it then passes the reading on to another waiting
// call. A call alone on the connection so reads its own reply, as if it
// had the connection to itself. A call whose ctx ends returns at once,
// reading or not; its reply, when it comes, is read and dropped, never
// taken as another's.
//
// A command whose reply is not read within the Client's Timeout of being
// queued ends the connection: the server is stuck or gone, and every
// command queued on it fails with the error, which leaves their outcome
// unknown. So does any error in reading or writing. A connection is never
// used again after an error.
type Conn struct {
	nc      net.Conn
	r       *bufio.Reader
	id      ServerID
	timeout time.Duration
	claims  atomic.Int32 // calls that hold it: the Client gives the least held
	broken  atomic.Bool  // err is set

	mu      sync.Mutex
	wbuf    []byte // commands queued, not yet written
	spare   []byte // the buffer last written, to be reused
	writing bool   // a goroutine is writing: it writes wbuf after
	queue   []*request
	head    int      // queue[head:] wait for their replies, in order
	reader  *request // the call that reads, or is asked to; nil: none
	seq     uint32   // the last opaque number sent
	err     error    // why the connection ended

	// dl orders the deadline that a reading call sets with the one that
	// its ctx's end sets to interrupt it.
	dl            sync.Mutex
	interruptible bool   // a call waits for the first byte of a reply
	peek          uint64 // counts those waits: an interrupt acts on its own only
}

// request is one command on a connection, and its reply.
type request struct {
	kind  kind
	op    uint32    // the opaque number the reply must echo
	token string    // for a read: the value it compares with
	until time.Time // the reply is due by then
	done  chan struct{}
	turn  chan struct{} // signalled when the call is asked to read
	rp    reply
	err   error
	// Under the connection's mu:
	finished  bool // rp or err is set, and done closed
	abandoned bool // its call returned: it neither reads nor waits
}

// Release ends the hold on cn that Client.Conn gave the caller, who sends
// no more commands on it.
func (cn *Conn) Release() { cn.claims.Add(-1) }

// ID returns the identity of the server process at the other end, as
// learned when the connection was dialled.
func (cn *Conn) ID() ServerID { return cn.id }

// Add stores value under key, with expiration exp (seconds), if key is
// free: "ms key n T<exp> ME c". It returns Stored with the new item's cas
// id, or NotStored.
func (cn *Conn) Add(ctx context.Context, key, value string, exp int32) (Status, uint64, error) {
	rp, err := cn.do(ctx, kindStore, "", func(b []byte, op uint32) []byte {
		return appendStore(b, key, value, exp, true, 0, op)
	})
	return rp.st, rp.cas, err
}

// Swap stores value under key, with expiration exp, if the item's cas id
// is cas (never 0): "ms key n T<exp> C<cas> c". It returns Stored with the
// new cas id, Exists or NotFound.
func (cn *Conn) Swap(ctx context.Context, key, value string, exp int32, cas uint64) (Status, uint64, error) {
	if cas == 0 {
		return 0, 0, ErrNoCAS
	}
	rp, err := cn.do(ctx, kindStore, "", func(b []byte, op uint32) []byte {
		return appendStore(b, key, value, exp, false, cas, op)
	})
	return rp.st, rp.cas, err
}

// Delete deletes key if the item's cas id is cas (never 0): "md key
// C<cas>". It returns Stored (deleted), Exists or NotFound.
func (cn *Conn) Delete(ctx context.Context, key string, cas uint64) (Status, error) {
	if cas == 0 {
		return 0, ErrNoCAS
	}
	rp, err := cn.do(ctx, kindDelete, "", func(b []byte, op uint32) []byte {
		return appendDelete(b, key, cas, op)
	})
	return rp.st, err
}

// Get reads key, "mg key v c", and reports whether the item is there,
// whether its value is token, and its cas id.
func (cn *Conn) Get(ctx context.Context, key, token string) (found, ours bool, cas uint64, err error) {
	rp, err := cn.do(ctx, kindGet, token, func(b []byte, op uint32) []byte {
		return appendGet(b, key, op)
	})
	return rp.found, rp.ours, rp.cas, err
}

// Incr increments the counter under key by one and sets its expiration
// to life (seconds): "ma key T<life> v". It returns Stored with the new
// value, or NotFound, leaving a missing counter missing.
func (cn *Conn) Incr(ctx context.Context, key string, life int32) (Status, uint64, error) {
	rp, err := cn.do(ctx, kindArith, "", func(b []byte, op uint32) []byte {
		return appendIncr(b, key, life, false, 0, op)
	})
	return rp.st, rp.n, err
}

// IncrOrCreate increments the counter under key by one, or creates it
// with the value initial if it is missing, in one atomic step, and sets
// its expiration to life: "ma key N<life> J<initial> T<life> v". It
// returns the counter's new value.
func (cn *Conn) IncrOrCreate(ctx context.Context, key string, life int32, initial uint64) (uint64, error) {
	rp, err := cn.do(ctx, kindArith, "", func(b []byte, op uint32) []byte {
		return appendIncr(b, key, life, true, initial, op)
	})
	if err == nil && rp.st != Stored {
		err = fmt.Errorf("ma with autovivification: unexpected status %d", rp.st)
	}
	return rp.n, err
}

// Time returns the server's clock, in Unix seconds, as "stats" reports it
// (memcached counts whole seconds).
func (cn *Conn) Time(ctx context.Context) (int64, error) {
	rp, err := cn.do(ctx, kindStats, "", func(b []byte, _ uint32) []byte { return append(b, "stats\r\n"...) })
	return int64(rp.n), err
}

// FencedAdd is the outcome of AddFenced: the add's, and the increment's.
type FencedAdd struct {
	St  Status // of the add: Stored or NotStored
	CAS uint64 // of the item stored
	Err error  // of the add; the increment fails with it

	IncrSt  Status // of the increment: Stored or NotFound
	Fence   uint64 // the counter's new value, with Stored
	IncrErr error
}

// AddFenced sends Add and Incr (of counter, with life) in one write, in
// that order, and waits for both replies: a fenced acquire in one round
// trip.
func (cn *Conn) AddFenced(ctx context.Context, key, value string, exp int32, counter string, life int32) (r FencedAdd) {
	if r.Err = ctx.Err(); r.Err != nil {
		r.IncrErr = r.Err
		return r
	}
	cn.mu.Lock()
	if cn.err != nil {
		r.Err, r.IncrErr = cn.err, cn.err
		cn.mu.Unlock()
		return r
	}
	add := cn.queueLocked(kindStore, "", func(b []byte, op uint32) []byte {
		return appendStore(b, key, value, exp, true, 0, op)
	})
	incr := cn.queueLocked(kindArith, "", func(b []byte, op uint32) []byte {
		return appendIncr(b, counter, life, false, 0, op)
	})
	cn.flushOrHandLocked()
	reads := cn.takeReadingLocked(add)
	cn.mu.Unlock()
	rp, err := cn.await(ctx, add, reads)
	r.St, r.CAS, r.Err = rp.st, rp.cas, err
	rp, err = cn.await(ctx, incr, false)
	if r.Err != nil && err == nil {
		err = r.Err
	}
	r.IncrSt, r.Fence, r.IncrErr = rp.st, rp.n, err
	return r
}

// Noop sends "mn", which a server that knows the meta commands answers
// with "MN".
func (cn *Conn) Noop(ctx context.Context) error {
	_, err := cn.do(ctx, kindNoop, "", func(b []byte, _ uint32) []byte { return append(b, "mn\r\n"...) })
	return err
}

// do queues a command, written by encode with its opaque number, and
// waits for its reply or the end of ctx.
func (cn *Conn) do(ctx context.Context, k kind, token string, encode func([]byte, uint32) []byte) (reply, error) {
	if err := ctx.Err(); err != nil {
		return reply{}, err
	}
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		return reply{}, err
	}
	req := cn.queueLocked(k, token, encode)
	cn.flushOrHandLocked()
	reads := cn.takeReadingLocked(req) // after the write: a blocked write must not keep replies unread
	cn.mu.Unlock()
	return cn.await(ctx, req, reads)
}

// SwapOp is one compare-and-swap of SwapMany: its command, and its reply.
type SwapOp struct {
	Key, Value string
	Exp        int32
	CAS        uint64 // never 0
	St         Status
	NewCAS     uint64
	Err        error
}

// SwapMany sends the Swap of each op in one write, and waits for their
// replies: Stored with the new cas id, Exists or NotFound, or an error.
func (cn *Conn) SwapMany(ctx context.Context, ops []SwapOp) {
	if err := ctx.Err(); err != nil {
		for i := range ops {
			ops[i].Err = err
		}
		return
	}
	reqs := make([]*request, 0, len(ops))
	cn.mu.Lock()
	if cn.err != nil {
		err := cn.err
		cn.mu.Unlock()
		for i := range ops {
			ops[i].Err = err
		}
		return
	}
	for i := range ops {
		op := &ops[i]
		if op.CAS == 0 {
			reqs = append(reqs, nil)
			op.Err = ErrNoCAS
			continue
		}
		reqs = append(reqs, cn.queueLocked(kindStore, "", func(b []byte, n uint32) []byte {
			return appendStore(b, op.Key, op.Value, op.Exp, false, op.CAS, n)
		}))
	}
	cn.flushOrHandLocked()
	reads := false
	for _, req := range reqs {
		if req != nil {
			reads = cn.takeReadingLocked(req)
			break
		}
	}
	cn.mu.Unlock()
	for i, req := range reqs {
		if req == nil {
			continue
		}
		rp, err := cn.await(ctx, req, reads)
		reads = false
		ops[i].St, ops[i].NewCAS, ops[i].Err = rp.st, rp.cas, err
	}
}

// queueLocked queues a command, written by encode with its opaque number,
// to be written next. The caller holds cn.mu, and cn.err is nil.
func (cn *Conn) queueLocked(k kind, token string, encode func([]byte, uint32) []byte) *request {
	req := &request{kind: k, token: token, done: make(chan struct{}), turn: make(chan struct{}, 1)}
	cn.seq++
	req.op = cn.seq
	cn.wbuf = encode(cn.wbuf, req.op)
	req.until = time.Now().Add(cn.timeout)
	cn.queue = append(cn.queue, req)
	return req
}

// takeReadingLocked makes req's call the reader if no call reads, and
// reports whether it did. The caller holds cn.mu.
func (cn *Conn) takeReadingLocked(req *request) bool {
	if cn.reader != nil {
		return false
	}
	cn.reader = req
	return true
}

// flushOrHandLocked writes what is queued, unless a goroutine is writing
// already (it writes it next). The caller holds cn.mu.
func (cn *Conn) flushOrHandLocked() {
	if cn.writing {
		return
	}
	cn.writing = true
	if cn.flushLocked() {
		go cn.flush() // more came while this call wrote: another goroutine writes them
	}
}

// await waits for req's reply, or the end of ctx; reads says that the
// caller is asked to read.
func (cn *Conn) await(ctx context.Context, req *request, reads bool) (reply, error) {
	for {
		if reads {
			cn.readFor(ctx, req)
			cn.mu.Lock()
			finished := req.finished
			cn.mu.Unlock()
			if finished {
				return req.rp, req.err
			}
			return reply{}, ctx.Err()
		}
		select {
		case <-req.done:
			return req.rp, req.err
		case <-req.turn:
			reads = true
		case <-ctx.Done():
			cn.mu.Lock()
			finished := req.finished
			if !finished {
				req.abandoned = true
				if cn.reader == req { // asked to read, and never did
					cn.passReadingLocked()
				}
			}
			cn.mu.Unlock()
			if finished {
				return req.rp, req.err
			}
			return reply{}, ctx.Err()
		}
	}
}

// flushLocked writes what wbuf holds, in one write, and reports whether
// more was queued meanwhile (the caller writes it, or has it written).
// The caller holds cn.mu, and set cn.writing; flushLocked releases cn.mu
// while it writes, and clears cn.writing unless it reports more.
func (cn *Conn) flushLocked() bool {
	b := cn.wbuf
	cn.wbuf, cn.spare = cn.spare[:0], nil
	cn.mu.Unlock()
	cn.nc.SetWriteDeadline(time.Now().Add(cn.timeout))
	_, err := cn.nc.Write(b)
	cn.mu.Lock()
	if cap(b) <= 64<<10 {
		cn.spare = b[:0]
	}
	if err != nil {
		cn.failLocked(err)
	}
	if cn.err != nil || len(cn.wbuf) == 0 {
		cn.writing = false
		return false
	}
	return true
}

// flush writes until nothing more is queued.
func (cn *Conn) flush() {
	cn.mu.Lock()
	for cn.flushLocked() {
	}
	cn.mu.Unlock()
}

// readFor reads replies, in order, handing each to its command, until
// me's comes, ctx ends, or the connection does; then it passes the reading
// on. The caller is me's, and cn.reader is me.
func (cn *Conn) readFor(ctx context.Context, me *request) {
	defer func() {
		cn.mu.Lock()
		if !me.finished {
			me.abandoned = true // ctx ended
		}
		cn.passReadingLocked()
		cn.mu.Unlock()
	}()
	var gen uint64 // of the Peek that interrupt may cut
	interrupt := func() {
		cn.dl.Lock()
		if cn.interruptible && cn.peek == gen {
			cn.nc.SetReadDeadline(longAgo)
		}
		cn.dl.Unlock()
	}
	for {
		cn.mu.Lock()
		if me.finished || cn.err != nil {
			cn.mu.Unlock()
			return
		}
		req := cn.queue[cn.head] // me is queued: the queue is not empty
		cn.mu.Unlock()

		// Wait for the first byte of the reply, until it is due, or ctx
		// ends: then the reply is not begun, and another call can read it.
		// A reply due while no call read (their ctxs ended) may be here
		// already: it gets a moment to be read.
		due := req.until
		if now := time.Now(); due.Before(now) {
			due = now.Add(lateGrace)
		}
		cn.dl.Lock()
		cn.interruptible = true
		cn.peek++
		gen = cn.peek
		cn.nc.SetReadDeadline(due)
		cn.dl.Unlock()
		var stop func() bool
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, interrupt)
		}
		_, err := cn.r.Peek(1)
		cn.dl.Lock()
		cn.interruptible = false
		cn.dl.Unlock()
		interrupted := stop != nil && !stop()
		if err != nil {
			if !interrupted || !errors.Is(err, os.ErrDeadlineExceeded) {
				cn.fail(err)
			}
			return
		}
		if interrupted {
			cn.nc.SetReadDeadline(due) // the reply has begun: read it whole
		}
		if !cn.readOne(req) || interrupted {
			return
		}
	}
}

// lateGrace is how long a reading call waits for a reply that was due
// while no call read.
const lateGrace = 50 * time.Millisecond

// readOne reads the reply of req, at the head of the queue, and hands it
// over. It reports false if the connection ended.
func (cn *Conn) readOne(req *request) bool {
	rp, err := readReply(cn.r, req)
	var re *ReplyError
	if errors.As(err, &re) {
		// An answer for req, which the connection cannot go on from: the
		// other commands' outcome is unknown.
		cn.mu.Lock()
		if cn.err == nil {
			cn.popLocked(reply{}, err)
			cn.failLocked(fmt.Errorf("the connection ended after a reply to another command that could not be read (%v)", err))
		}
		cn.mu.Unlock()
		return false
	}
	if err != nil {
		cn.fail(err)
		return false
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil { // closed while the reply was read: req has failed
		return false
	}
	cn.popLocked(rp, nil)
	return true
}

// popLocked hands the head of the queue its reply. The caller holds cn.mu.
func (cn *Conn) popLocked(rp reply, err error) {
	req := cn.queue[cn.head]
	cn.queue[cn.head] = nil
	cn.head++
	switch {
	case cn.head == len(cn.queue):
		cn.queue, cn.head = cn.queue[:0], 0
	case cn.head >= 1024 && cn.head*2 >= len(cn.queue):
		n := copy(cn.queue, cn.queue[cn.head:])
		clear(cn.queue[n:])
		cn.queue, cn.head = cn.queue[:n], 0
	}
	req.rp, req.err, req.finished = rp, err, true
	close(req.done)
}

// passReadingLocked asks the first queued call that still waits to read,
// or leaves the reading to the next call queued. The caller holds cn.mu.
func (cn *Conn) passReadingLocked() {
	cn.reader = nil
	if cn.err != nil {
		return
	}
	for _, req := range cn.queue[cn.head:] {
		if !req.abandoned && !req.finished {
			cn.reader = req
			req.turn <- struct{}{}
			return
		}
	}
}

// errClosedByPeer ends a connection found closed by its server while idle.
var errClosedByPeer = errors.New("connection closed by the server while idle")

// stale reports whether cn, held by no call, was closed by its server while
// it had no command in flight (a restart), and ends it if so: a call then
// gets another connection instead of a failure in transit on this one.
func (cn *Conn) stale() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		return true
	}
	if cn.head < len(cn.queue) || cn.writing || len(cn.wbuf) > 0 || cn.r.Buffered() > 0 || !closedByPeer(cn.nc) {
		return false
	}
	cn.failLocked(errClosedByPeer)
	return true
}

// fail ends the connection with err.
func (cn *Conn) fail(err error) {
	cn.mu.Lock()
	cn.failLocked(err)
	cn.mu.Unlock()
}

// failLocked ends the connection with err, unless it has ended already:
// it closes it and fails every command queued on it. The caller holds
// cn.mu.
func (cn *Conn) failLocked(err error) {
	if cn.err != nil {
		return
	}
	cn.err = err
	cn.broken.Store(true)
	cn.nc.Close()
	for _, req := range cn.queue[cn.head:] {
		req.err, req.finished = err, true
		close(req.done)
	}
	clear(cn.queue)
	cn.queue, cn.head, cn.wbuf = nil, 0, nil
}
