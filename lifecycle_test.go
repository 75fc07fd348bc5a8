package lock_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distlock/lock"
)

// gateBackend is a one-key store whose calls can be held at a gate: each
// call announces itself on entered and, when gated, waits for a value on
// open (or for its ctx). An acquire stores its token before it waits, as a
// request that reached the store whose reply is late does.
type gateBackend struct {
	entered chan string // the name of each call, as it starts
	open    chan bool   // the answer a gated call returns
	gate    map[string]bool

	mu       sync.Mutex
	token    string
	released []string // tokens passed to Release
	closed   bool
	late     bool // a call returned after Close
}

func newGate(gated ...string) *gateBackend {
	b := &gateBackend{entered: make(chan string, 16), open: make(chan bool), gate: map[string]bool{}}
	for _, g := range gated {
		b.gate[g] = true
	}
	return b
}

func (b *gateBackend) wait(ctx context.Context, name string, answer bool) (bool, error) {
	b.entered <- name
	if b.gate[name] {
		select {
		case answer = <-b.open:
		case <-ctx.Done():
			return false, errors.New("store: call cut short") // not wrapping ctx.Err, as some clients do
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.late = true
	}
	return answer, nil
}

func (b *gateBackend) Acquire(ctx context.Context, _, token string, _ time.Duration) (bool, error) {
	b.mu.Lock()
	free := b.token == ""
	if free {
		b.token = token
	}
	b.mu.Unlock()
	return b.wait(ctx, "acquire", free)
}

func (b *gateBackend) Release(ctx context.Context, _, token string) (bool, error) {
	b.mu.Lock()
	b.released = append(b.released, token)
	ours := b.token == token
	if ours {
		b.token = ""
	}
	b.mu.Unlock()
	return b.wait(ctx, "release", ours)
}

func (b *gateBackend) Extend(ctx context.Context, _, token string, _ time.Duration) (bool, error) {
	b.mu.Lock()
	ours := b.token == token
	b.mu.Unlock()
	return b.wait(ctx, "extend", ours)
}

func (b *gateBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *gateBackend) stored() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.token
}

// within fails the test unless f returns within a generous bound: the
// calls tested must return promptly, and a bug must not hang the suite.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// TestFailedAttemptReleased checks that a token an attempt may have stored,
// when the attempt fails, is released in the background instead of
// blocking the key, held by no one, until its ttl ends.
func TestFailedAttemptReleased(t *testing.T) {
	for _, call := range []string{"Acquire", "TryAcquire"} {
		t.Run(call, func(t *testing.T) {
			b := newGate("acquire")
			l := lock.New(b, nil)
			defer l.Close()
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() {
				var err error
				if call == "Acquire" {
					_, err = l.Acquire(ctx, "k", time.Hour)
				} else {
					_, err = l.TryAcquire(ctx, "k", time.Hour)
				}
				errc <- err
			}()
			<-b.entered
			token := b.stored()
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("%s cut short = %v; want an error matching context.Canceled", call, err)
			}
			// Close right away, as a deferred Close does: it waits for
			// the release in the background.
			within(t, "Close", func() { l.Close() })
			if got := b.stored(); got != "" {
				t.Fatalf("store holds %q after a failed attempt (token %q) and Close; want the token released", got, token)
			}
			if b.late {
				t.Fatal("the backend was closed while a call was in flight")
			}
		})
	}
}

// TestAcquireLockTimeoutCutsCall checks that AcquireLock's timeout bounds a
// store call in flight, not only the pauses between attempts.
func TestAcquireLockTimeoutCutsCall(t *testing.T) {
	for _, timeout := range []time.Duration{50 * time.Millisecond, time.Nanosecond} {
		b := newGate("acquire")
		l := lock.New(b, &lock.Options{RetryInterval: 10 * time.Millisecond})
		defer l.Close()
		var err error
		within(t, fmt.Sprintf("AcquireLock(timeout %v) on a store that never answers", timeout), func() {
			err = l.AcquireLock(context.Background(), "k", time.Hour, timeout)
		})
		if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("AcquireLock(timeout %v) timed out in a store call = %v; want ErrNotAcquired and context.DeadlineExceeded", timeout, err)
		}
	}
}

// failBackend fails every acquire in transit; its releases wait on gate.
type failBackend struct {
	gate     chan struct{}
	entered  chan struct{}
	releases atomic.Int32
}

func (*failBackend) Acquire(context.Context, string, string, time.Duration) (bool, error) {
	return false, errors.New("store: connection reset")
}

func (b *failBackend) Release(context.Context, string, string) (bool, error) {
	b.releases.Add(1)
	b.entered <- struct{}{}
	<-b.gate
	return false, nil
}
func (*failBackend) Extend(context.Context, string, string, time.Duration) (bool, error) {
	return false, nil
}
func (*failBackend) Close() error { return nil }

// TestForgetsBounded checks that the background releases of failed
// attempts are bounded, so that a store that fails every call does not
// pile up goroutines, and that Close waits for them.
func TestForgetsBounded(t *testing.T) {
	b := &failBackend{gate: make(chan struct{}), entered: make(chan struct{}, 200)}
	l := lock.New(b, nil)
	for i := range 200 {
		if _, err := l.TryAcquireLock(context.Background(), fmt.Sprint("k", i), time.Hour); err == nil {
			t.Fatal("TryAcquireLock on a failing store succeeded")
		}
	}
	for range 64 {
		<-b.entered
	}
	close(b.gate)
	within(t, "Close", func() { l.Close() })
	if n := b.releases.Load(); n != 64 {
		t.Fatalf("%d background releases for 200 failed attempts with releases stuck; want the bound, 64", n)
	}
}

// TestCloseEndsWait checks that Close ends a wait, with ErrClosed, after
// its store call in flight returns, and closes the backend only then.
func TestCloseEndsWait(t *testing.T) {
	b := newGate("acquire")
	l := lock.New(b, nil)
	errc := make(chan error, 1)
	go func() { errc <- l.AcquireLock(context.Background(), "k", time.Hour, time.Hour) }()
	<-b.entered
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	closing(l)
	b.open <- false // the attempt in flight finds the key held
	var err error
	within(t, "a wait ended by Close", func() {
		err = <-errc
		<-closed
	})
	if !errors.Is(err, lock.ErrClosed) {
		t.Fatalf("AcquireLock ended by Close = %v; want ErrClosed", err)
	}
	if b.late {
		t.Fatal("the backend was closed while a call was in flight")
	}
}

// closing returns once l's Close has begun: calls then fail with ErrClosed
// before validating their arguments (a ttl of -1 never reaches the store).
func closing(l lock.Lock) {
	for {
		if _, err := l.TryAcquire(context.Background(), "other", -1); errors.Is(err, lock.ErrClosed) {
			return
		}
		runtime.Gosched()
	}
}

// TestCloseWaitsForCalls checks that Close closes the backend only after
// the calls in flight returned, and that a lock acquired while Close was
// under way is released and reported as ErrClosed.
func TestCloseWaitsForCalls(t *testing.T) {
	b := newGate("acquire")
	l := lock.New(b, nil)
	type result struct {
		s   *lock.Lease
		err error
	}
	res := make(chan result, 1)
	go func() {
		s, err := l.TryAcquire(context.Background(), "k", time.Hour)
		res <- result{s, err}
	}()
	<-b.entered
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	closing(l)
	select {
	case <-closed:
		t.Fatal("Close returned while a call was in flight")
	default:
	}
	b.open <- true // the acquire succeeds
	r := <-res
	if !errors.Is(r.err, lock.ErrClosed) || r.s != nil {
		t.Fatalf("TryAcquire that succeeded during Close = %v, %v; want nil, ErrClosed", r.s, r.err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := b.stored(); got != "" {
		t.Fatalf("a lock acquired during Close was left in the store (%q); want it released", got)
	}
	if b.late {
		t.Fatal("the backend was closed while a call was in flight")
	}
}

// TestConcurrentReleaseLock checks that of two ReleaseLock calls of one key
// at once, one releases and the other is the no-op of a second release.
func TestConcurrentReleaseLock(t *testing.T) {
	b := newGate("release")
	l := lock.New(b, nil)
	defer l.Close()
	ctx := context.Background()
	if ok, err := l.TryAcquireLock(ctx, "k", time.Hour); !ok || err != nil {
		t.Fatalf("TryAcquireLock = %v, %v", ok, err)
	}
	<-b.entered // the acquire
	first := make(chan error, 1)
	go func() { first <- l.ReleaseLock(ctx, "k") }()
	<-b.entered // the first release is in the store
	var err error
	within(t, "a second ReleaseLock while the first is in flight", func() { err = l.ReleaseLock(ctx, "k") })
	if err != nil {
		t.Fatalf("second ReleaseLock while the first is in flight = %v; want nil", err)
	}
	b.open <- true
	if err := <-first; err != nil {
		t.Fatalf("first ReleaseLock = %v; want nil", err)
	}
	if len(b.released) != 1 {
		t.Fatalf("the store saw %d releases; want 1", len(b.released))
	}
}

// TestTryAcquireCutShort checks that a single attempt cut short by ctx
// returns an error matching ctx's, even from a client that does not wrap it.
func TestTryAcquireCutShort(t *testing.T) {
	l := lock.New(heldBackend{block: true}, nil)
	defer l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.TryAcquireLock(ctx, "k", time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("TryAcquireLock cut short = %v; want an error matching context.DeadlineExceeded", err)
	}
}

// TestWaitEndsOnStoreError checks that an error of the store ends a wait at
// once, returned as it is: the store is failing, the key is not held.
func TestWaitEndsOnStoreError(t *testing.T) {
	b := &failBackend{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	close(b.gate) // releases return at once
	l := lock.New(b, nil)
	defer l.Close()
	var err error
	within(t, "AcquireLock on a failing store", func() {
		err = l.AcquireLock(context.Background(), "k", time.Hour, time.Hour)
	})
	if err == nil || errors.Is(err, lock.ErrNotAcquired) || err.Error() != "store: connection reset" {
		t.Fatalf("AcquireLock on a failing store = %v; want the store's error, not ErrNotAcquired", err)
	}
}
