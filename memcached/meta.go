package memcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/distlock/lock"
	"github.com/distlock/lock/driver"
	"github.com/distlock/lock/internal/bounded"
	"github.com/distlock/lock/memcached/internal/mc"
)

// meta implements driver.Backend on memcached's meta protocol, over a
// client of its own (package mc: a few connections per server, each
// carrying many commands at once). Each operation is one round trip when the
// cas id of the lock is known: acquire "ms key n T<exp> ME c" (an add that
// returns the new item's cas id), release "md key C<cas>", extend
// "ms key n T<exp> C<cas> c". The cas ids it learns are kept in hints; an
// operation whose cas id is unknown reads the item first ("mg key v c"),
// compares the token, and acts on the cas id read. With Options.Fence,
// fencedMeta (fence.go) wraps it, to hand out fencing tokens.
type meta struct {
	locks
	mc    *mc.Client
	hints casHints
}

// inTransit implements protocol for the errors of package mc, as call.cut
// leaves them: all but the server's answers (see mc.ReplyError.InTransit; a
// server without cas ids included), a closed client and a cancelled call.
// It exists beside the Lock's rules (network and I/O errors) because
// package mc also fails commands whose outcome is unknown with errors of
// its own (a SERVER_ERROR, a reply it cannot read, replies lost on a
// connection, a connection ended by another command's bad reply): it lists
// the answers, and counts the rest in transit.
func (*meta) inTransit(err error) bool {
	var (
		re *mc.ReplyError
		ne net.Error
	)
	switch {
	case errors.As(err, &re):
		return re.InTransit()
	case errors.Is(err, mc.ErrNoCAS), errors.Is(err, mc.ErrClosed), errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &ne):
		return true // a dial or I/O timeout matches context.DeadlineExceeded too
	case errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return true
}

// ping checks that every server answers meta commands, within ctx and the
// call timeout.
func (b *meta) ping(ctx context.Context) error {
	for i, a := range b.mc.Servers() {
		c := newCall(ctx, b.cfg.callTimeout)
		err := b.run(&c, i, func(cn *mc.Conn) error { return cn.Noop(c.ctx) })
		c.end()
		if err != nil {
			return fmt.Errorf("server %s: %w", a, err)
		}
	}
	return nil
}

// run runs f on a connection to server srv, within c, and returns f's
// error (or the connection's) mapped by c.cut.
func (b *meta) run(c *call, srv int, f func(*mc.Conn) error) error {
	cn, err := b.mc.Conn(c.ctx, srv)
	if err == nil {
		err = f(cn)
		cn.Release()
	}
	if err != nil {
		return c.cut(err)
	}
	return nil
}

// add implements protocol: "ms key n T<exp> ME c", an add that returns
// the new item's cas id, kept as a hint.
func (b *meta) add(c *call, native, token string, exp int32) (stored, sent bool, err error) {
	var (
		st  mc.Status
		cas uint64
		id  mc.ServerID
	)
	err = b.run(c, b.mc.Servers().Index(native), func(cn *mc.Conn) (err error) {
		sent, id = true, cn.ID()
		st, cas, err = cn.Add(c.ctx, native, token, exp)
		return err
	})
	switch {
	case err != nil:
		return false, sent, err
	case st == mc.Stored:
		b.hints.put(native, token, cas, id, exp, 0)
		return true, true, nil
	case st == mc.NotStored:
		return false, true, nil
	}
	return false, true, fmt.Errorf("add: unexpected status %d", st)
}

// landed makes sure that err, the error of an acquire that sent an add,
// does not look like a dial that failed: the Lock releases the token of a
// failed acquire in the background unless nothing was sent, and an add sent
// by an earlier attempt may have landed.
func landed(err error, sent bool) error {
	if !sent || !dialFailed(err) {
		return err
	}
	base := lock.ErrUnavailable
	for _, e := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			base = e
		}
	}
	return fmt.Errorf("memcached: %w (an add sent earlier may have landed): %s", base, strings.TrimPrefix(err.Error(), "memcached: "))
}

// wrap prefixes an error that is not yet the package's.
func wrap(err error) error {
	if strings.HasPrefix(err.Error(), "memcached: ") {
		return err
	}
	return fmt.Errorf("memcached: %w", err)
}

// swapOnce implements protocol: on the cas id of the hint, one round trip
// ("md key C<cas>", or "ms key n T<exp> C<cas> c" that learns the new cas
// id), or else on the cas id read with the token ("mg key v c") first.
func (b *meta) swapOnce(c *call, native, token string, exp int32) (st mc.Status, err error) {
	err = b.run(c, b.mc.Servers().Index(native), func(cn *mc.Conn) (err error) {
		st, err = b.swapOn(c.ctx, cn, native, token, exp)
		return err
	})
	if err == nil && st != mc.Exists && (st != mc.Stored || exp < 0) {
		b.hints.drop(native, token) // the cas id is spent, or not ours
	}
	return st, err
}

// swapOn is swapOnce on cn: the reply of the md or ms is its outcome.
func (b *meta) swapOn(ctx context.Context, cn *mc.Conn, native, token string, exp int32) (st mc.Status, err error) {
	cas := b.hints.get(native, token, cn.ID())
	read := cas == 0
	if read {
		if st, cas, err = readBack(ctx, cn, native, token); st != mc.Stored || err != nil {
			return st, err
		}
	}
	for {
		var next uint64
		if exp < 0 {
			st, err = cn.Delete(ctx, native, cas)
		} else {
			st, next, err = cn.Swap(ctx, native, token, exp, cas)
		}
		switch {
		case err != nil:
			return 0, err
		case st != mc.Stored && st != mc.NotFound && st != mc.Exists:
			return 0, fmt.Errorf("unexpected status %d", st)
		case st == mc.Exists && !read:
			// The hint is stale: an extend of ours landed after its reply
			// was lost, or the key is another owner's now. Read it.
			read = true
			if st, cas, err = readBack(ctx, cn, native, token); st != mc.Stored || err != nil {
				return st, err
			}
			continue
		case st == mc.Stored && exp >= 0:
			b.hints.put(native, token, next, cn.ID(), exp, 0)
		}
		return st, nil
	}
}

// readBack reads native on cn. It reports mc.Stored, with the item's cas
// id, when the item holds token (as swapOnce would on a swap that
// succeeds), mc.NotStored when it holds another, mc.NotFound when there is
// none.
func readBack(ctx context.Context, cn *mc.Conn, native, token string) (mc.Status, uint64, error) {
	found, ours, cas, err := cn.Get(ctx, native, token)
	switch {
	case err != nil:
		return 0, 0, err
	case !found:
		return mc.NotFound, 0, nil
	case !ours:
		return mc.NotStored, 0, nil
	case cas == 0:
		return 0, 0, mc.ErrNoCAS
	}
	return mc.Stored, cas, nil
}

// Close closes the connections.
func (b *meta) Close() error {
	b.mc.Close()
	b.wakes.close()
	return nil
}

// ExtendBatch implements driver.BatchExtender: the extends whose cas ids
// are known are sent together, one write per server, each "ms <key> <n>
// T<exp> C<cas> c" as Extend sends it. Those whose cas id is unknown or
// changed go through Extend, which reads the item back as it does alone;
// a failure in transit is not resent, but left to the keep-alive's next
// step.
func (b *meta) ExtendBatch(ctx context.Context, batch []driver.Extension) {
	type pending struct {
		i      int // in batch
		native string
	}
	byServer := make(map[int][]pending)
	var alone []int
	for i := range batch {
		x := &batch[i]
		native := b.cfg.keys.native(x.Key)
		srv := b.mc.Servers().Index(native)
		byServer[srv] = append(byServer[srv], pending{i, native})
	}
	for srv, ps := range byServer {
		c := newCall(ctx, b.cfg.callTimeout)
		cn, err := b.mc.Conn(c.ctx, srv)
		if err != nil {
			err = c.cut(err)
			c.end()
			for _, p := range ps {
				batch[p.i].Err = settleError(b.inTransit, err)
			}
			continue
		}
		ops := make([]mc.SwapOp, 0, len(ps))
		sent := ps[:0]
		for _, p := range ps {
			x := &batch[p.i]
			cas := b.hints.get(p.native, x.Token, cn.ID())
			if cas == 0 {
				alone = append(alone, p.i)
				continue
			}
			ops = append(ops, mc.SwapOp{Key: p.native, Value: x.Token, Exp: expiration(x.TTL), CAS: cas})
			sent = append(sent, p)
		}
		if len(ops) > 0 {
			cn.SwapMany(c.ctx, ops)
		}
		cn.Release()
		c.end()
		for j, op := range ops {
			p, x := sent[j], &batch[sent[j].i]
			switch {
			case op.Err == nil && op.St == mc.Stored:
				b.hints.put(p.native, x.Token, op.NewCAS, cn.ID(), op.Exp, 0)
				x.OK = true
			case op.Err == nil && op.St == mc.NotFound:
				b.hints.drop(p.native, x.Token)
			case op.Err != nil: // not resent: the keep-alive's next step
				x.Err = settleError(b.inTransit, c.cut(op.Err))
			default: // the cas id changed: read it, as Extend alone
				alone = append(alone, p.i)
			}
		}
	}
	bounded.Each(alone, maxAloneExtends, func(i int) {
		x := &batch[i]
		x.OK, x.Err = b.Extend(ctx, x.Key, x.Token, x.TTL)
	})
}

// maxAloneExtends bounds the extends of a batch sent on their own at once.
const maxAloneExtends = 256
