package mc

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// Config configures a Client.
type Config struct {
	// Dial dials one connection to a server.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds a dial with its first exchange, a write, and the wait
	// of each command for its reply: a server that takes longer is deemed
	// stuck, and the connection is closed.
	Timeout time.Duration
	// MaxConns is the most connections open to each server at once.
	MaxConns int
}

// Client sends meta commands to a set of servers, on at most MaxConns
// connections to each, which it dials when needed and keeps until Close.
// Calls share the connections: a burst of calls is queued on them, never
// refused for want of a connection.
type Client struct {
	servers Servers
	cfg     Config

	mu     sync.Mutex
	slots  [][]slot // per server, MaxConns
	closed bool
}

// slot holds one connection to a server, or its dial in progress.
type slot struct {
	cn      *Conn
	dialing chan struct{} // closed when the dial ends
}

// ErrClosed reports a call after Close, or one that Close cut short.
var ErrClosed = errors.New("the client is closed")

// New returns a Client of servers. It dials nothing yet.
func New(servers Servers, cfg Config) *Client {
	cfg.MaxConns = max(cfg.MaxConns, 1)
	slots := make([][]slot, len(servers))
	for i := range slots {
		slots[i] = make([]slot, cfg.MaxConns)
	}
	return &Client{servers: servers, cfg: cfg, slots: slots}
}

// Servers returns the client's servers.
func (c *Client) Servers() Servers { return c.servers }

// Conn returns a connection to server srv (an index in Servers), held by
// the caller until it calls Release: one that no call holds (and that the
// server has not closed meanwhile: see Conn.stale), or a new one
// while there are fewer than MaxConns, or else the least held, which then
// carries the commands of several calls at once. It waits, within ctx, for
// a dial in progress when every connection is being dialled.
func (c *Client) Conn(ctx context.Context, srv int) (*Conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		var (
			best *Conn
			held int32
			free = -1
			wait chan struct{}
		)
		slots := c.slots[srv]
		for i := range slots {
			s := &slots[i]
			if s.cn != nil && s.cn.broken.Load() {
				s.cn = nil
			}
			switch {
			case s.cn != nil:
				if n := s.cn.claims.Load(); best == nil || n < held {
					best, held = s.cn, n
				}
			case s.dialing != nil:
				wait = s.dialing
			case free < 0:
				free = i
			}
		}
		if best != nil && held == 0 && best.stale() {
			c.mu.Unlock()
			continue // dropped at the next look
		}
		if best != nil && (held == 0 || free < 0) {
			best.claims.Add(1)
			c.mu.Unlock()
			return best, nil
		}
		if free >= 0 {
			done := make(chan struct{})
			slots[free].dialing = done
			c.mu.Unlock()
			cn, err := c.open(ctx, srv)
			c.mu.Lock()
			slots[free].dialing = nil
			if err == nil && c.closed {
				cn.nc.Close()
				cn, err = nil, ErrClosed
			}
			if err == nil {
				slots[free].cn = cn
				cn.claims.Add(1)
			}
			c.mu.Unlock()
			close(done)
			return cn, err
		}
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// longAgo is a deadline in the past: set on a connection, it makes the I/O
// in progress on it return at once.
var longAgo = time.Unix(1, 0)

// open dials server srv and learns which server process answers, within
// Timeout and ctx.
func (c *Client) open(ctx context.Context, srv int) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	a := c.servers[srv]
	nc, err := c.cfg.Dial(ctx, a.Network(), a.String())
	if err != nil {
		return nil, openError(ctx, a, err)
	}
	cn := &Conn{nc: nc, r: bufio.NewReaderSize(nc, readBufferSize), timeout: c.cfg.Timeout}
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(longAgo) })
	id, err := identify(nc, cn.r)
	if !stop() && err == nil {
		err = os.ErrDeadlineExceeded // the deadline may be gone
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		nc.Close()
		return nil, openError(ctx, a, err)
	}
	cn.id = id
	return cn, nil
}

// openError is the error of a dial, or of the first exchange, on a
// connection that carried no command yet: a net.OpError of Op "dial", so
// that it reads as nothing sent. An end of ctx that is the Timeout's own
// (a TLS handshake returns ctx's error as it is) is a timeout, not the
// caller's ctx ending.
func openError(ctx context.Context, a net.Addr, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return err
	}
	if ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		err = os.ErrDeadlineExceeded
	}
	return &net.OpError{Op: "dial", Net: a.Network(), Addr: a, Err: err}
}

// Close closes the connections: commands still waiting fail with
// ErrClosed.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	var conns []*Conn
	for _, slots := range c.slots {
		for i := range slots {
			if slots[i].cn != nil {
				conns = append(conns, slots[i].cn)
				slots[i].cn = nil
			}
		}
	}
	c.mu.Unlock()
	for _, cn := range conns {
		cn.fail(ErrClosed)
	}
}
