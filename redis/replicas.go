package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
)

// ErrNotReplicated is matched by the error of an acquire or an extend that
// fewer replicas than Options.MinReplicas acknowledged in time: the
// acquisition was released (the key may be free again), the extend did not
// count. Such errors match lock.ErrUnavailable too, so that waits and
// keep-alives retry them.
var ErrNotReplicated = errors.New("too few replicas acknowledged the write")

// replicaError is the error of a write that too few replicas acknowledged.
type replicaError struct {
	acked, want int64
	timeout     time.Duration
}

func (e *replicaError) Error() string {
	return fmt.Sprintf("%v: %d of %d within %v", ErrNotReplicated, e.acked, e.want, e.timeout)
}

func (e *replicaError) Is(target error) bool {
	return target == ErrNotReplicated || target == lock.ErrUnavailable
}

func (o *Options) replicaTimeout() time.Duration {
	if o == nil || o.ReplicaTimeout <= 0 {
		return DefaultReplicaTimeout
	}
	return o.ReplicaTimeout
}

// checkReplicas refuses replica settings that cannot work over a client
// whose read timeout is read: WAIT's timeout must end before the read
// timeout ends the pipeline that carries it.
func checkReplicas(opts *Options, read time.Duration) error {
	if opts == nil || (opts.MinReplicas == 0 && opts.ReplicaTimeout == 0) {
		return nil
	}
	if opts.MinReplicas < 0 || opts.ReplicaTimeout < 0 {
		return fmt.Errorf("MinReplicas %d and ReplicaTimeout %v may not be negative", opts.MinReplicas, opts.ReplicaTimeout)
	}
	if wait := opts.replicaTimeout(); read > 0 && wait >= read {
		return fmt.Errorf("a replica timeout of %v needs a longer read timeout; the client's is %v", wait, read)
	}
	return nil
}

// readTimeout returns the read timeout of client's commands.
func readTimeout(client goredis.UniversalClient) time.Duration {
	switch c := client.(type) {
	case *goredis.Client:
		return c.Options().ReadTimeout
	case *goredis.ClusterClient:
		return c.Options().ReadTimeout
	}
	return 0
}

// process runs cmd, a command on the key k, as the client's Process does.
// When the Lock asks for replicas (Options.MinReplicas) and wrote is not
// nil, cmd is followed by WAIT on the same connection, in one round trip:
// a reply for which wrote reports that cmd stored the lock then counts only
// once enough replicas acknowledged it; otherwise process fails with a
// replicaError (or with WAIT's own error, whose outcome is unknown).
func (b *backend) process(ctx context.Context, k string, cmd goredis.Cmder, wrote func() bool) error {
	if b.replicas == 0 || wrote == nil {
		return b.c.Process(ctx, cmd)
	}
	c, err := b.primary(ctx, k)
	if err != nil {
		return err
	}
	var wait *goredis.IntCmd
	_, _ = c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		_ = p.Process(ctx, cmd)
		wait = b.wait(ctx, p)
		return nil
	})
	if wrote() {
		if err := b.acknowledged(wait); err != nil {
			return err
		}
	}
	return cmd.Err()
}

// primary returns the client whose connections reach the primary of k:
// on a cluster, the node that serves k's slot (WAIT counts the replicas of
// the connection's own primary).
func (b *backend) primary(ctx context.Context, k string) (goredis.UniversalClient, error) {
	if cc, ok := b.c.(*goredis.ClusterClient); ok {
		return cc.MasterForKey(ctx, k)
	}
	return b.c, nil
}

// wait queues WAIT for the Lock's replicas in p.
func (b *backend) wait(ctx context.Context, p goredis.Pipeliner) *goredis.IntCmd {
	cmd := goredis.NewIntCmd(ctx, "wait", b.replicas, max(b.replicaTimeout.Milliseconds(), 1))
	_ = p.Process(ctx, cmd)
	return cmd
}

// acknowledged returns nil if the WAIT cmd, after a write, counted enough
// replicas.
func (b *backend) acknowledged(wait *goredis.IntCmd) error {
	n, err := wait.Result()
	switch {
	case err != nil:
		return fmt.Errorf("WAIT for %d replicas after the write: %w", b.replicas, err)
	case n < int64(b.replicas):
		return &replicaError{acked: n, want: int64(b.replicas), timeout: b.replicaTimeout}
	}
	return nil
}

// unreplicated returns err, an acquire's. When the acquisition landed but
// too few replicas acknowledged it, it releases the lock first: a failover
// could lose it, and the acquire fails.
func (b *backend) unreplicated(ctx context.Context, key, token string, err error) error {
	if !errors.Is(err, ErrNotReplicated) {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if _, rerr := b.Release(rctx, key, token); rerr != nil {
		return fmt.Errorf("%w; releasing it failed (it expires with its ttl): %w", err, rerr)
	}
	return fmt.Errorf("%w; released", err)
}
