package memcached

import (
	"bufio"
	"context"
	"errors"
	"os"
	"sync"
	"time"
)

// pool keeps idle connections to each server of a Lock made by Dial, and
// runs commands on them within the time frame of a call.
//
// A connection carries one command at a time. It goes back to the pool
// only after a call that read every reply it was sent; a connection whose
// call failed, or was cut short by its ctx, is closed, so that a late reply
// is never read as the answer to another command.
type pool struct {
	servers selector
	dial    dialFunc
	timeout time.Duration // of one attempt: a dial, or the commands on a connection
	size    int           // idle connections kept per server

	mu     sync.Mutex
	idle   [][]*conn // per server, the most recently used last
	closed bool
}

// errClosed reports a call after Close: the Lock never makes one, but a
// call in flight may meet a closed pool.
var errClosed = errors.New("the client is closed")

// longAgo is a deadline in the past: set on a connection, it makes the I/O
// in progress on it return at once.
var longAgo = time.Unix(1, 0)

func newPool(s selector, d dialFunc, timeout time.Duration, size int) *pool {
	return &pool{servers: s, dial: d, timeout: timeout, size: size, idle: make([][]*conn, len(s))}
}

// run runs f on a connection to server srv. The connection's deadline is
// the earlier of the call's deadline and Timeout from now, and ctx ending
// sets it in the past, so that f returns promptly. f's error, mapped by
// c.cut when the call's time ran out, is returned; the connection is
// closed unless f succeeded.
func (p *pool) run(c *call, srv int, f func(*conn) error) error {
	cn, err := p.get(c, srv)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(p.timeout)
	if c.deadline.Before(deadline) {
		deadline = c.deadline
	}
	cn.nc.SetDeadline(deadline)
	var stop func() bool
	if c.ctx.Done() != nil {
		nc := cn.nc
		stop = context.AfterFunc(c.ctx, func() { nc.SetDeadline(longAgo) })
	}
	err = f(cn)
	if stop != nil && !stop() {
		// ctx ended while f ran: the connection's deadline is gone.
		cn.close()
		if err != nil {
			return c.cut(err)
		}
		return nil
	}
	if err != nil {
		cn.close()
		return c.cut(err)
	}
	p.put(cn)
	return nil
}

// get returns an idle connection to server srv, or dials a new one.
func (p *pool) get(c *call, srv int) (*conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	if idle := p.idle[srv]; len(idle) > 0 {
		cn := idle[len(idle)-1]
		idle[len(idle)-1] = nil
		p.idle[srv] = idle[:len(idle)-1]
		p.mu.Unlock()
		return cn, nil
	}
	p.mu.Unlock()
	return p.open(c, srv)
}

// open dials server srv and learns which server process answers, within
// Timeout and the call's time frame.
func (p *pool) open(c *call, srv int) (*conn, error) {
	deadline := time.Now().Add(p.timeout)
	if c.deadline.Before(deadline) {
		deadline = c.deadline
	}
	ctx, cancel := context.WithDeadline(c.ctx, deadline)
	defer cancel()
	a := p.servers[srv]
	nc, err := p.dial(ctx, a.Network(), a.String())
	if err != nil {
		return nil, c.cut(err)
	}
	cn := &conn{nc: nc, r: bufio.NewReaderSize(nc, readBufferSize), srv: srv}
	nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(longAgo) })
	id, err := cn.identify()
	if !stop() && err == nil {
		err = os.ErrDeadlineExceeded // the deadline may be gone
	}
	if err != nil {
		nc.Close()
		return nil, c.cut(err)
	}
	cn.id = id
	return cn, nil
}

// put returns cn to the idle connections of its server, or closes it if
// there are enough of them, or the pool is closed.
func (p *pool) put(cn *conn) {
	p.mu.Lock()
	if !p.closed && len(p.idle[cn.srv]) < p.size {
		p.idle[cn.srv] = append(p.idle[cn.srv], cn)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	cn.close()
}

// close closes the idle connections; connections in use are closed when
// their call returns them.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = make([][]*conn, len(p.servers)), true
	p.mu.Unlock()
	for _, conns := range idle {
		for _, cn := range conns {
			cn.close()
		}
	}
}
