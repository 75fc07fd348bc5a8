package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/distlock/lock"
)

// openTimeout bounds lock.Open, which checks that the store answers.
const openTimeout = 10 * time.Second

// errWaitOver ends a wait that lasted its -wait.
var errWaitOver = errors.New("the wait is over")

// process is one run of distlock: its standard files, its environment,
// and the signals it receives (SIGINT, SIGTERM).
type process struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string         // passed on to the child, with DISTLOCK_KEY and DISTLOCK_TOKEN
	signals        <-chan os.Signal // nil: none
	quiet          bool
}

// run runs distlock with args, the arguments after the program's name, and
// returns its exit status.
func (p *process) run(args []string) int {
	c, err := parseArgs(args, p.getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(p.stdout, usage)
		return 0
	case err != nil:
		p.fail("%v", err)
		return exitUsage
	}
	p.quiet = c.quiet
	if err := checkScheme(c.url); err != nil {
		p.fail("%v", err)
		return exitUsage
	}
	// Look the command up before taking the lock, so that a typo does not
	// hold the key.
	if _, err := exec.LookPath(c.argv[0]); err != nil {
		p.fail("cannot run %q: %v", c.argv[0], unwrapExec(err))
		if errors.Is(err, fs.ErrPermission) {
			return exitCannotRun
		}
		return exitNotFound
	}

	r, ctx := newRelay(context.Background(), p.signals)
	defer r.close()

	octx, cancel := context.WithTimeout(ctx, openTimeout)
	l, err := lock.Open(octx, c.url)
	cancel()
	if err != nil {
		if s := r.interrupted(); s != nil {
			p.say("interrupted by %s while connecting to the lock store", signalName(s))
			return signalStatus(s)
		}
		if !errors.Is(err, lock.ErrInvalidURL) && unreachable(err) {
			p.fail("cannot reach the lock store: %v", oneLine(err))
			return exitUnavailable
		}
		p.fail("bad -url: %v", oneLine(err))
		return exitUsage
	}
	defer l.Close()
	return p.lockAndRun(ctx, r, l, c)
}

// lockAndRun acquires c.key, runs the child under it, and returns the exit
// status.
func (p *process) lockAndRun(ctx context.Context, r *relay, l lock.Lock, c *config) int {
	var (
		started atomic.Bool // the child started
		lost    atomic.Bool // distlock terminated the child because the lock was lost
		status  int         // the child's, once it exited
	)
	fn := func(ctx context.Context) error {
		lease := lock.LeaseFromContext(ctx)
		cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = p.stdin, p.stdout, p.stderr
		cmd.Env = append(append([]string(nil), p.environ...),
			"DISTLOCK_KEY="+c.key, "DISTLOCK_TOKEN="+lease.Token())
		// The ctx of fn ends when the lock is lost: SIGTERM, then SIGKILL
		// after the grace period (exec's WaitDelay).
		cmd.Cancel = func() error {
			lost.Store(true)
			if c.grace == 0 {
				p.fail("lost the lock on %q while the command ran (%v): killing it", c.key, oneLine(context.Cause(ctx)))
				return cmd.Process.Kill()
			}
			p.fail("lost the lock on %q while the command ran (%v): sending it SIGTERM, and SIGKILL in %v",
				c.key, oneLine(context.Cause(ctx)), c.grace)
			return terminate(cmd.Process)
		}
		cmd.WaitDelay = c.grace
		// The child stays in distlock's process group (no Setpgid): in a
		// group of its own, Ctrl-Z and a kill of distlock's group would
		// miss it, and reading the terminal would stop it (SIGTTIN). A
		// group of its own would not help kill its children when distlock
		// dies of SIGKILL either: nothing is left to signal the group.
		done := dieWithDistlock(cmd)
		defer done()
		if err := r.start(cmd); err != nil {
			return err
		}
		started.Store(true)
		werr := cmd.Wait()
		r.exitedChild()
		if cmd.ProcessState == nil {
			return werr
		}
		status = childStatus(cmd.ProcessState)
		if lost.Load() && c.grace > 0 && isKilled(cmd.ProcessState) {
			p.fail("the command did not exit within -grace %v of SIGTERM: killed it", c.grace)
		}
		return nil
	}

	var err error
	switch {
	case c.forever:
		err = lock.Do(ctx, l, c.key, c.ttl, fn)
	case c.wait == 0:
		err = lock.TryDo(ctx, l, c.key, c.ttl, fn)
	default:
		// The wait must not bound the child: a ctx with a deadline would
		// also end the ctx of fn. The timer ends the wait only if it fires
		// before the lock is acquired.
		wctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		timer := time.AfterFunc(c.wait, func() { cancel(errWaitOver) })
		inner := fn
		fn = func(ctx context.Context) error {
			if !timer.Stop() {
				return errWaitOver // acquired as the wait ended: ctx is done
			}
			return inner(ctx)
		}
		err = lock.Do(wctx, l, c.key, c.ttl, fn)
	}

	switch {
	case started.Load() && (lost.Load() || errors.Is(err, lock.ErrNotHeld)):
		if !lost.Load() {
			// Found at the release: the lock had gone while the child ran.
			p.fail("the lock on %q was lost while the command ran (it exited with status %d): %v",
				c.key, status, oneLine(err))
		}
		return exitLost
	case started.Load():
		if err != nil {
			p.say("warning: could not release the lock on %q, which expires on its own after -ttl %v: %v", c.key, c.ttl, oneLine(err))
		}
		return status
	}
	return p.notStarted(r, c, err)
}

// notStarted returns the exit status, and reports why, when the child did
// not start.
func (p *process) notStarted(r *relay, c *config, err error) int {
	if s := r.interrupted(); s != nil {
		p.say("interrupted by %s while waiting for the lock on %q", signalName(s), c.key)
		return signalStatus(s)
	}
	var ee *exec.Error
	switch {
	case errors.Is(err, lock.ErrInvalidTTL):
		p.fail("-ttl %v: %v", c.ttl, oneLine(err))
		return exitUsage
	case errors.As(err, &ee), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ENOEXEC):
		p.fail("cannot run %q: %v", c.argv[0], oneLine(unwrapExec(err)))
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return exitNotFound
		}
		return exitCannotRun
	case errors.Is(err, lock.ErrNotHeld):
		p.fail("lost the lock on %q before the command started: %v", c.key, oneLine(err))
		return exitLost
	case errors.Is(err, lock.ErrNotAcquired), errors.Is(err, errWaitOver):
		if f := storeFailure(err); f != nil {
			p.fail("the lock store failed while waiting for %q: %v", c.key, oneLine(f))
			return exitUnavailable
		}
		if c.wait == 0 {
			p.say("%q is busy: another owner holds it (-wait 0)", c.key)
		} else {
			p.say("%q is busy: another owner held it for the whole -wait %v", c.key, c.wait)
		}
		return exitBusy
	}
	p.fail("lock store error: %v", oneLine(err))
	return exitUnavailable
}

// fail reports an error on stderr, in one line.
func (p *process) fail(format string, args ...any) {
	fmt.Fprintf(p.stderr, "distlock: "+format+"\n", args...)
}

// say reports on stderr what -q silences.
func (p *process) say(format string, args ...any) {
	if !p.quiet {
		p.fail(format, args...)
	}
}

// getenv looks name up in p.environ; the last of duplicates wins, as for
// os/exec.
func (p *process) getenv(name string) string {
	v := ""
	for _, kv := range p.environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// isKilled reports whether SIGKILL ended the process.
func isKilled(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// oneLine returns err's message on one line: errors.Join puts newlines
// between its errors.
func oneLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// unwrapExec returns the reason of an *exec.Error, which repeats the name.
func unwrapExec(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
