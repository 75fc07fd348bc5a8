package memcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

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
// compares the token, and acts on the cas id read.
type meta struct {
	mc    *mc.Client
	cfg   config
	hints casHints
	wakes *wakes // of its servers' scope
}

// inTransit reports whether err, from the pool, is a failure in transit,
// after which the outcome of the command is unknown and a retry may
// succeed, as opposed to an answer of the server or the end of the call.
func inTransit(err error) bool {
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

// Acquire adds the key and learns the cas id of the new item: one round
// trip. When the add fails in transit its outcome is unknown: it may have
// landed, even after the client gave up on it. The key is then read back
// before answering. If it holds our token, the add did land, at some moment
// before now, so the expiration is written again from now (a
// compare-and-swap on the cas id read) before the lock is reported held: it
// never expires early, and is not left orphaned. If it holds another token,
// the lock is not ours; if it is absent, the add was lost and is sent
// again, up to the configured retries.
func (b *meta) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	native, exp := b.cfg.keys.native(key), expiration(ttl)
	srv := b.mc.Servers().Index(native)
	var (
		last error // of the last attempt that failed in transit
		sent bool  // an add was written: it may have landed
	)
	for attempt := 0; ; attempt++ {
		if err := c.check(last); err != nil {
			return false, landed(err, sent)
		}
		var (
			st      mc.Status
			cas     uint64
			id      mc.ServerID
			wrote   bool
			earlier = sent
		)
		err := b.run(&c, srv, func(cn *mc.Conn) (err error) {
			wrote, id = true, cn.ID()
			st, cas, err = cn.Add(c.ctx, native, token, exp)
			return err
		})
		sent = sent || wrote
		switch {
		case err == nil && st == mc.Stored:
			b.hints.put(native, token, cas, id, exp)
			return true, nil
		case err == nil && st == mc.NotStored && !earlier:
			return false, nil
		case err == nil && st == mc.NotStored:
			// An earlier add failed in transit and may have landed.
		case err == nil:
			return false, fmt.Errorf("memcached: add: unexpected status %d", st)
		case !inTransit(err):
			return false, landed(wrap(err), sent)
		default:
			last = err
		}
		if sent {
			// Whose token is stored?
			sw, rerr := b.swap(&c, native, token, exp)
			switch {
			case rerr != nil:
				return false, landed(fmt.Errorf("memcached: add failed (%w), and reading it back failed: %w", last, rerr), sent)
			case sw == swapped:
				return true, nil
			case sw == other:
				return false, nil
			}
		}
		if attempt >= b.cfg.retries {
			return false, landed(unavailable(last), sent)
		}
		if err := pause(&c, attempt, last); err != nil {
			return false, landed(err, sent)
		}
	}
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

// Release deletes the key if its cas id is still the one this Lock learned
// when it acquired or last extended it, or, when that is not known, the
// one read with our token: one round trip, or three.
func (b *meta) Release(ctx context.Context, key, token string) (bool, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	native := b.cfg.keys.native(key)
	st, err := b.swap(&c, native, token, -1)
	if st == swapped {
		b.wakes.wake(native)
	}
	return st == swapped, err
}

// Watch implements driver.Watcher for the releases made in this process:
// see wakes.
func (b *meta) Watch(key string) <-chan struct{} {
	return b.wakes.watch(b.cfg.keys.native(key))
}

// Extend stores our token again with the new expiration, compared with the
// cas id as Release, and learns the new cas id.
func (b *meta) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	c := newCall(ctx, b.cfg.callTimeout)
	defer c.end()
	st, err := b.swap(&c, b.cfg.keys.native(key), token, expiration(ttl))
	return st == swapped, err
}

// swap acts on native if it stores token: exp < 0 deletes it, otherwise
// token is stored again with expiration exp. Either is a compare-and-swap
// on the item's cas id: the hint, or the cas id read with the token.
// Failures in transit are retried as retrySwap says.
func (b *meta) swap(c *call, native, token string, exp int32) (state, error) {
	srv := b.mc.Servers().Index(native)
	return retrySwap(c, exp < 0, b.cfg.retries, inTransit, func() (st state, sent bool, err error) {
		err = b.run(c, srv, func(cn *mc.Conn) (err error) {
			st, sent, err = b.swapOn(c.ctx, cn, native, token, exp)
			return err
		})
		if err == nil && st != changed && (st != swapped || exp < 0) {
			b.hints.drop(native, token) // the cas id is spent, or not ours
		}
		return st, sent, err
	})
}

// swapOn is one attempt of swap, on cn. sent reports whether a
// compare-and-swap was written.
func (b *meta) swapOn(ctx context.Context, cn *mc.Conn, native, token string, exp int32) (st state, sent bool, err error) {
	cas := b.hints.get(native, token, cn.ID())
	read := cas == 0
	if read {
		if st, cas, err = readBack(ctx, cn, native, token); st != swapped || err != nil {
			return st, false, err
		}
	}
	for {
		var (
			r    mc.Status
			next uint64
		)
		sent = true
		if exp < 0 {
			r, err = cn.Delete(ctx, native, cas)
		} else {
			r, next, err = cn.Swap(ctx, native, token, exp, cas)
		}
		switch {
		case err != nil:
			return absent, sent, err
		case r == mc.Stored:
			if exp >= 0 {
				b.hints.put(native, token, next, cn.ID(), exp)
			}
			return swapped, sent, nil
		case r == mc.NotFound:
			return absent, sent, nil
		case r != mc.Exists:
			return absent, sent, fmt.Errorf("unexpected status %d", r)
		case read:
			return changed, sent, nil
		}
		// The hint is stale: an extend of ours landed after its reply was
		// lost, or the key is another owner's now. Read it.
		read = true
		if st, cas, err = readBack(ctx, cn, native, token); st != swapped || err != nil {
			return st, sent, err
		}
	}
}

// readBack reads native on cn. It reports swapped, with the item's cas id,
// when the item holds token.
func readBack(ctx context.Context, cn *mc.Conn, native, token string) (state, uint64, error) {
	found, ours, cas, err := cn.Get(ctx, native, token)
	switch {
	case err != nil:
		return absent, 0, err
	case !found:
		return absent, 0, nil
	case !ours:
		return other, 0, nil
	case cas == 0:
		return absent, 0, mc.ErrNoCAS
	}
	return swapped, cas, nil
}

// Close closes the connections.
func (b *meta) Close() error {
	b.mc.Close()
	b.wakes.close()
	return nil
}

// ExtendBatch implements driver.BatchExtender: the extends whose cas ids
// are known are sent together, one write per server, each "ms <key> <n>
// T<exp> C<cas> c" as Extend sends it. Those that get no definite answer
// (a cas id unknown or changed, a failure in transit) go through Extend,
// which reads the item back and retries as it does alone.
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
			c.end()
			for _, p := range ps {
				alone = append(alone, p.i)
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
				b.hints.put(p.native, x.Token, op.NewCAS, cn.ID(), op.Exp)
				x.OK = true
			case op.Err == nil && op.St == mc.NotFound:
				b.hints.drop(p.native, x.Token)
			default: // changed, or unknown: as Extend alone
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

// Scope implements driver.Scoper: the Locks of the same servers, prefix
// and max_key_size share their waits.
func (b *meta) Scope() string { return "memcached " + b.wakes.scope + " " + b.cfg.keys.scope() }
