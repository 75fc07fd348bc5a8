package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// errInterrupted is returned by relay.start when a signal came first.
var errInterrupted = errors.New("interrupted")

// A relay routes the signals that distlock receives. Until the child
// starts, the first one ends what distlock is doing (opening the store,
// waiting for the lock) through a context; from then on, each one is sent
// on to the child, until it exits.
type relay struct {
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	child  *os.Process // set once the child started
	exited bool        // the child has exited: signals are ignored
	got    os.Signal   // the signal that interrupted distlock before the child started
	stop   chan struct{}
	done   chan struct{}
}

// newRelay starts routing signals, and returns the relay with the context
// it cancels on the first signal before the child starts. Call close when
// done.
func newRelay(ctx context.Context, signals <-chan os.Signal) (*relay, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	r := &relay{cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case s := <-signals: // a nil channel never delivers
				r.deliver(s)
			case <-r.stop:
				return
			}
		}
	}()
	return r, ctx
}

// close stops routing signals; those that arrive later wait in their
// channel, ignored.
func (r *relay) close() {
	close(r.stop)
	<-r.done
	r.cancel(nil)
}

func (r *relay) deliver(s os.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.child != nil && !r.exited:
		_ = r.child.Signal(s)
	case r.child == nil && r.got == nil:
		r.got = s
		r.cancel(fmt.Errorf("%w by %s", errInterrupted, signalName(s)))
	}
}

// interrupted returns the signal that interrupted distlock before the child
// started, or nil.
func (r *relay) interrupted() os.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got
}

// start starts cmd, unless a signal has interrupted distlock, and from then
// on sends the signals on to it.
func (r *relay) start(cmd *exec.Cmd) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got != nil {
		return errInterrupted
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	r.child = cmd.Process
	return nil
}

// exitedChild records that the child has exited.
func (r *relay) exitedChild() {
	r.mu.Lock()
	r.exited = true
	r.mu.Unlock()
}

// terminate asks p to exit with SIGTERM, or kills it where signals cannot
// be sent (Windows).
func terminate(p *os.Process) error {
	err := p.Signal(syscall.SIGTERM)
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return p.Kill()
	}
	return err
}

// signalName returns the name of s as kill(1) prints it: SIGINT, SIGTERM.
func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}
