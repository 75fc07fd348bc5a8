package lock

import (
	"context"
	"fmt"
	"sync"
	"time"
)

var (
	errReleased = fmt.Errorf("%w: lease already released", ErrNotHeld)
	errLost     = fmt.Errorf("%w: lock expired and may have another owner", ErrNotHeld)
)

// A Lease is one acquisition of a lock, with its own ownership token. It is
// returned by [Lock.TryAcquire] and [Lock.Acquire].
//
// A Lease is safe for concurrent use; its calls are serialized. Release and
// Extend act only while the store still holds this lease's token, checked
// atomically by the store, so a lease whose lock expired can never release
// or extend the lock of a later owner.
type Lease struct {
	l     *locker
	key   string
	token string

	mu   sync.Mutex
	gone error // non-nil once released or found lost: what later calls return
}

// Key returns the key the lease holds.
func (s *Lease) Key() string { return s.key }

// Token returns the lease's ownership token: a random string of at least
// 128 bits, unique to this acquisition. It is what the store holds under
// the key while the lease is held; it is not a fencing token (tokens are not
// ordered).
func (s *Lease) Token() string { return s.token }

// Release releases the lock if this lease still holds it. It returns
// ErrNotHeld when the lock has expired (another owner's lock, if any, is left
// untouched) or when the lease was already released, and ErrClosed after the
// Lock's Close. After an infrastructure error the lease is unchanged and
// Release can be retried.
func (s *Lease) Release(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.l.enter() {
		return ErrClosed
	}
	defer s.l.life.RUnlock()
	if s.gone != nil {
		return s.gone
	}
	ok, err := s.l.b.Release(ctx, s.key, s.token)
	if err != nil {
		return err
	}
	s.gone = errReleased
	if !ok {
		return errLost
	}
	return nil
}

// Extend sets the remaining lifetime of the lock to ttl, counted from now,
// if this lease still holds it. It returns ErrInvalidTTL for a ttl the Lock
// would not accept in an acquire, ErrNotHeld when the lock has expired or
// was released (nothing is changed then), and ErrClosed after the Lock's
// Close.
func (s *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.l.enter() {
		return ErrClosed
	}
	defer s.l.life.RUnlock()
	if err := s.l.checkTTL(ttl); err != nil {
		return err
	}
	if s.gone != nil {
		return s.gone
	}
	ok, err := s.l.b.Extend(ctx, s.key, s.token, ttl)
	if err != nil {
		return err
	}
	if !ok {
		s.gone = errLost
		return errLost
	}
	return nil
}
