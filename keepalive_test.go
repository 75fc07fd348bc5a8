package lock_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distlock/lock"
	"github.com/distlock/lock/memory"
)

// mapBackend is a store on time.Now (fake time inside a synctest bubble)
// whose keys a test can drop behind a holder's back, and whose calls it can
// fail or slow down.
type mapBackend struct {
	mu    sync.Mutex
	items map[string]mapItem
	// fail, when set, is asked before each call: a non-nil error fails the
	// call without touching the store.
	fail func(op string) error
	// slow, when set, delays each extend by this much (or until ctx ends).
	slow time.Duration

	extends  atomic.Int32 // extends that reached the store
	inFlight atomic.Int32 // extends in flight now
	overlap  atomic.Bool  // two extends were in flight at once
}

type mapItem struct {
	token   string
	expires time.Time
}

func newMap() *mapBackend { return &mapBackend{items: map[string]mapItem{}} }

func (b *mapBackend) check(op string) error {
	b.mu.Lock()
	f := b.fail
	b.mu.Unlock()
	if f != nil {
		return f(op)
	}
	return nil
}

func (b *mapBackend) setFail(f func(op string) error) {
	b.mu.Lock()
	b.fail = f
	b.mu.Unlock()
}

// held returns key's token if it is held now; the caller holds b.mu.
func (b *mapBackend) held(key string) (string, bool) {
	it, ok := b.items[key]
	if !ok || !time.Now().Before(it.expires) {
		return "", false
	}
	return it.token, true
}

func (b *mapBackend) stored(key string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, _ := b.held(key)
	return t
}

func (b *mapBackend) drop(key string) {
	b.mu.Lock()
	delete(b.items, key)
	b.mu.Unlock()
}

func (b *mapBackend) Acquire(_ context.Context, key, token string, ttl time.Duration) (bool, error) {
	if err := b.check("acquire"); err != nil {
		return false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.held(key); ok {
		return false, nil
	}
	b.items[key] = mapItem{token, time.Now().Add(ttl)}
	return true, nil
}

func (b *mapBackend) Release(_ context.Context, key, token string) (bool, error) {
	if err := b.check("release"); err != nil {
		return false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.held(key); !ok || t != token {
		return false, nil
	}
	delete(b.items, key)
	return true, nil
}

func (b *mapBackend) Extend(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if b.inFlight.Add(1) > 1 {
		b.overlap.Store(true)
	}
	defer b.inFlight.Add(-1)
	if err := b.check("extend"); err != nil {
		return false, err
	}
	if b.slow > 0 {
		select {
		case <-time.After(b.slow):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	b.extends.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.held(key); !ok || t != token {
		return false, nil
	}
	b.items[key] = mapItem{token, time.Now().Add(ttl)}
	return true, nil
}

func (b *mapBackend) Close() error { return nil }

// reset is a failure in transit, as a client returns it.
var reset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// TestKeepAliveOutlivesTTL checks that a lease kept alive holds its lock
// for many ttls, extending about three times per ttl, and that nothing
// extends after Release.
func TestKeepAliveOutlivesTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMap()
		l := lock.New(b, nil)
		defer l.Close()
		ctx := t.Context()
		s := keptAlive(t, l, "k", 3*time.Second)
		if err := s.KeepAlive(ctx, 0); err == nil {
			t.Error("a second KeepAlive = nil; want an error")
		}
		time.Sleep(30*time.Second + time.Millisecond)
		if err := s.Err(); err != nil {
			t.Fatalf("lease kept alive for 10 ttls: Err() = %v; want nil", err)
		}
		if got := b.stored("k"); got != s.Token() {
			t.Fatalf("store holds %q after 10 ttls; want the lease's token", got)
		}
		if n := b.extends.Load(); n != 30 {
			t.Errorf("%d extends in 10 ttls; want 30 (one every ttl/3)", n)
		}
		if d := time.Until(s.Deadline()); d <= 2*time.Second {
			t.Errorf("Deadline() is %v away after an extend a moment ago; want about the ttl", d)
		}
		if err := s.Release(ctx); err != nil {
			t.Fatalf("Release() = %v", err)
		}
		n := b.extends.Load()
		time.Sleep(time.Minute)
		if got := b.extends.Load(); got != n {
			t.Errorf("%d extends after Release; want none", got-n)
		}
		if got := b.stored("k"); got != "" {
			t.Errorf("store holds %q after Release; want nothing", got)
		}
		select {
		case <-s.Done():
		default:
			t.Fatal("Done() not closed after Release")
		}
		if err := s.Err(); !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Err() after Release = %v; want ErrNotHeld", err)
		}
	})
}

// TestKeepAliveDetectsLoss checks that a lease whose key is deleted behind
// its back ends within one extend interval, and is not re-created.
func TestKeepAliveDetectsLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMap()
		l := lock.New(b, nil)
		defer l.Close()
		ctx := t.Context()
		s := keptAlive(t, l, "k", 3*time.Second)
		time.Sleep(5 * time.Second)
		b.drop("k")
		dropped := time.Now()
		<-s.Done()
		if d := time.Since(dropped); d > time.Second {
			t.Errorf("lease ended %v after its key was deleted; want within the extend interval, 1s", d)
		}
		if err := s.Err(); !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Err() = %v; want ErrNotHeld", err)
		}
		time.Sleep(10 * time.Second)
		if got := b.stored("k"); got != "" {
			t.Errorf("store holds %q after the loss; want nothing (no re-creation)", got)
		}
		if err := s.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Release() of a lost lease = %v; want ErrNotHeld", err)
		}
	})
}

// TestKeepAliveDeadline checks that a lease whose extends keep failing in
// transit ends at its deadline, not later, with the last extend error, and
// that a store that comes back before the deadline keeps it.
func TestKeepAliveDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMap()
		l := lock.New(b, nil)
		defer l.Close()
		ctx := t.Context()

		// A blip shorter than the deadline is ridden out.
		s := keptAlive(t, l, "blip", 3*time.Second)
		b.setFail(func(string) error { return reset })
		time.Sleep(2500 * time.Millisecond)
		b.setFail(nil)
		time.Sleep(10 * time.Second)
		if err := s.Err(); err != nil {
			t.Fatalf("lease after a 2.5s outage with a 3s ttl: Err() = %v; want nil", err)
		}
		if err := s.Release(ctx); err != nil {
			t.Fatal(err)
		}

		// An outage past the deadline ends the lease at the deadline.
		s = keptAlive(t, l, "down", 3*time.Second)
		time.Sleep(1500 * time.Millisecond)
		b.setFail(func(op string) error {
			if op == "extend" {
				return reset
			}
			return nil
		})
		<-s.Done()
		if late := time.Since(s.Deadline()); late != 0 {
			t.Errorf("lease ended %v after its deadline; want at it", late)
		}
		if err := s.Err(); !errors.Is(err, lock.ErrNotHeld) || !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Err() = %v; want ErrNotHeld and the last extend's error", err)
		}
		// This store expires locks exactly at their ttl: it holds
		// nothing now, and Release says so.
		if err := s.Release(ctx); !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Release() after the deadline = %v; want ErrNotHeld", err)
		}
	})
}

// TestKeepAliveOneExtendInFlight checks that a slow store never stacks
// extends.
func TestKeepAliveOneExtendInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMap()
		b.slow = 2500 * time.Millisecond // longer than the interval
		l := lock.New(b, nil)
		defer l.Close()
		ctx := t.Context()
		s := keptAlive(t, l, "k", 3*time.Second)
		time.Sleep(20 * time.Second)
		if b.overlap.Load() {
			t.Error("two extends were in flight at once")
		}
		s.Release(ctx)
	})
}

// TestDo checks lock.Do and lock.TryDo: fn runs under the lock with its
// lease in ctx, is cancelled with a cause matching ErrNotHeld when the lock
// is lost, and the lock is released after fn returns or panics.
func TestDo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMap()
		l := lock.New(b, nil)
		defer l.Close()
		ctx := t.Context()

		ran := false
		err := lock.Do(ctx, l, "k", 3*time.Second, func(ctx context.Context) error {
			ran = true
			s := lock.LeaseFromContext(ctx)
			if s == nil || b.stored("k") != s.Token() {
				t.Errorf("LeaseFromContext = %v; want the lease the store holds", s)
			}
			time.Sleep(20 * time.Second) // many ttls
			return ctx.Err()
		})
		if err != nil || !ran {
			t.Fatalf("Do = %v (fn ran: %v); want nil", err, ran)
		}
		if got := b.stored("k"); got != "" {
			t.Fatalf("store holds %q after Do; want it released", got)
		}

		// Lost while fn runs.
		fnErr := errors.New("fn saw the loss")
		err = lock.Do(ctx, l, "k", 3*time.Second, func(ctx context.Context) error {
			time.Sleep(2 * time.Second)
			b.drop("k")
			lost := time.Now()
			<-ctx.Done()
			if d := time.Since(lost); d > time.Second {
				t.Errorf("fn's ctx cancelled %v after the loss; want within 1s", d)
			}
			if cause := context.Cause(ctx); !errors.Is(cause, lock.ErrNotHeld) {
				t.Errorf("context.Cause = %v; want ErrNotHeld", cause)
			}
			return fnErr
		})
		if !errors.Is(err, fnErr) || !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Do with the lock lost = %v; want fn's error joined with ErrNotHeld", err)
		}

		// A panic releases, then goes on.
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("recovered %v; want the panic of fn", r)
				}
			}()
			lock.Do(ctx, l, "k", 3*time.Second, func(context.Context) error { panic("boom") })
		}()
		if got := b.stored("k"); got != "" {
			t.Fatalf("store holds %q after fn panicked; want it released", got)
		}

		// TryDo on a busy key.
		other := lock.New(b, nil)
		defer other.Close()
		if _, err := other.TryAcquire(ctx, "k", time.Minute); err != nil {
			t.Fatal(err)
		}
		called := false
		err = lock.TryDo(ctx, l, "k", time.Minute, func(context.Context) error { called = true; return nil })
		if !errors.Is(err, lock.ErrNotAcquired) || called {
			t.Errorf("TryDo on a held key = %v (fn called: %v); want ErrNotAcquired, fn not called", err, called)
		}
	})
}

// TestCloseLetsGo checks that Close releases the keys and leases its Lock
// value holds, so another Lock value acquires them at once, and ends the
// leases with ErrClosed.
func TestCloseLetsGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := memory.NewStore(nil)
		a, b := store.Lock(), store.Lock()
		defer b.Close()
		ctx := t.Context()
		if ok, err := a.TryAcquireLock(ctx, "key", time.Hour); !ok || err != nil {
			t.Fatal(ok, err)
		}
		s, err := a.TryAcquire(ctx, "lease", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.KeepAlive(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"key", "lease"} {
			if ok, err := b.TryAcquireLock(ctx, k, time.Hour); !ok || err != nil {
				t.Errorf("TryAcquireLock(%q) after the holder's Close = %v, %v; want true", k, ok, err)
			}
		}
		<-s.Done()
		if err := s.Err(); !errors.Is(err, lock.ErrClosed) || !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Err() of a lease released by Close = %v; want ErrClosed and ErrNotHeld", err)
		}
		if err := s.Release(ctx); !errors.Is(err, lock.ErrClosed) {
			t.Errorf("Release() after Close = %v; want ErrClosed", err)
		}
	})
}

// deadBackend never answers: every call waits for its ctx.
type deadBackend struct{ mapBackend }

func (*deadBackend) Release(ctx context.Context, _, _ string) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

// TestCloseDeadStore checks that Close on a store that stopped answering
// returns within its timeout, with 100 keys held.
func TestCloseDeadStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &deadBackend{mapBackend{items: map[string]mapItem{}}}
		l := lock.New(b, &lock.Options{CloseTimeout: time.Second})
		for i := range 100 {
			if _, err := l.TryAcquire(t.Context(), string(rune('a'+i%26))+string(rune('0'+i/26)), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		l.Close()
		if d := time.Since(start); d > time.Second {
			t.Errorf("Close on a dead store took %v; want at most its timeout, 1s", d)
		}
	})
}

// TestWaitRidesOutBlip checks that a failure in transit during a wait is
// retried, that a wait ending during an outage says why, and that an error
// retrying cannot fix ends it at once.
func TestWaitRidesOutBlip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMap()
		l := lock.New(b, nil)
		defer l.Close()
		down := true
		var mu sync.Mutex
		b.setFail(func(string) error {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return reset
			}
			return nil
		})
		go func() {
			time.Sleep(time.Second)
			mu.Lock()
			down = false
			mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		s, err := l.Acquire(ctx, "k", time.Minute)
		if err != nil {
			t.Fatalf("Acquire across a 1s outage = %v; want a lease", err)
		}
		s.Release(ctx)

		b.setFail(func(string) error { return reset })
		err = l.AcquireLock(ctx, "k", time.Minute, time.Second)
		if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("AcquireLock ending in an outage = %v; want ErrNotAcquired, DeadlineExceeded and the store's error", err)
		}

		refused := errors.New("store: NOAUTH")
		b.setFail(func(string) error { return refused })
		start := time.Now()
		if _, err := l.Acquire(ctx, "k", time.Minute); !errors.Is(err, refused) || errors.Is(err, lock.ErrNotAcquired) {
			t.Errorf("Acquire on a refusing store = %v; want its error, not ErrNotAcquired", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Acquire on a refusing store took %v; want no retry", d)
		}
	})
}

// TestFailedAttemptCleanupRetries checks that the background release of an
// attempt whose reply was lost keeps trying while the fault lasts, so the
// key is free soon after it heals.
func TestFailedAttemptCleanupRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMap()
		l := lock.New(b, nil)
		defer l.Close()
		// The acquire lands but its reply is lost; releases fail for 300ms.
		var mu sync.Mutex
		healed := false
		b.setFail(func(op string) error {
			mu.Lock()
			defer mu.Unlock()
			if op == "release" && !healed {
				return reset
			}
			return nil
		})
		lost := &lostReply{b}
		l2 := lock.New(lost, nil)
		defer l2.Close()
		if _, err := l2.TryAcquire(t.Context(), "k", time.Hour); err == nil {
			t.Fatal("TryAcquire with its reply lost = nil; want an error")
		}
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		healed = true
		mu.Unlock()
		time.Sleep(200 * time.Millisecond)
		if got := b.stored("k"); got != "" {
			t.Errorf("key still stored 200ms after the fault healed; want it released by the failed attempt's cleanup")
		}
	})
}

// lostReply stores what its acquires ask, then reports a failure in transit.
type lostReply struct{ *mapBackend }

func (b *lostReply) Acquire(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	b.mapBackend.Acquire(ctx, key, token, ttl)
	return false, reset
}

// TestReleaseRetriedNotFalseLoss checks that a release whose first try
// landed but lost its reply is not reported as a loss when the retry finds
// the token gone.
func TestReleaseRetriedNotFalseLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMap()
		l := lock.New(&lostRelease{mapBackend: b, lose: 1}, nil)
		defer l.Close()
		s, err := l.TryAcquire(t.Context(), "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Release(t.Context()); err != nil {
			t.Fatalf("Release() whose first reply was lost = %v; want nil (the first try released it)", err)
		}
		if got := b.stored("k"); got != "" {
			t.Fatalf("store holds %q after Release; want nothing", got)
		}
	})
}

// lostRelease releases as asked, and loses the reply of the first lose
// releases.
type lostRelease struct {
	*mapBackend
	lose int
}

func (b *lostRelease) Release(ctx context.Context, key, token string) (bool, error) {
	ok, err := b.mapBackend.Release(ctx, key, token)
	if b.lose > 0 {
		b.lose--
		return false, reset
	}
	return ok, err
}

// TestLoggerReportsLoss checks that a lost lease is logged as a warning
// that names the key and never shows the token.
func TestLoggerReportsLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		b := newMap()
		l := lock.New(b, &lock.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		defer l.Close()
		s := keptAlive(t, l, "the-key", 3*time.Second)
		b.drop("the-key")
		<-s.Done()
		synctest.Wait()
		out := buf.String()
		if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "the-key") {
			t.Errorf("log after a loss = %q; want a warning naming the key", out)
		}
		if strings.Contains(out, s.Token()) {
			t.Errorf("log shows the lease's token: %q", out)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestDoneAfterDeadline checks Done and Err of a lease first watched after
// its deadline passed: Done is closed (once), Err says why.
func TestDoneAfterDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := lock.New(newMap(), nil)
		defer l.Close()
		s, err := l.TryAcquire(t.Context(), "k", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		select {
		case <-s.Done():
		default:
			t.Fatal("Done() of a lease past its deadline is not closed")
		}
		if err := s.Err(); !errors.Is(err, lock.ErrNotHeld) {
			t.Errorf("Err() = %v; want ErrNotHeld", err)
		}
	})
}

// keptAlive acquires key on l for ttl and keeps the lease alive.
func keptAlive(t *testing.T, l lock.Lock, key string, ttl time.Duration) *lock.Lease {
	t.Helper()
	s, err := l.TryAcquire(t.Context(), key, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.KeepAlive(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	return s
}
