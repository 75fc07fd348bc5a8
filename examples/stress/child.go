package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/distlock/lock"
)

// The files in the parent's directory that the holders share.
const (
	counterFile = "counter" // incremented under the lock
	markerFile  = "holder"  // exists while a holder is inside
)

// result is what a child reports to its parent, in a file of its own.
type result struct {
	Cycles         int            // increments made under the lock
	Overlaps       int            // holders found inside with another: the marker there, or the counter half-written
	AcquireErrors  int            // waits that ended with an error (faults only)
	ReleaseErrors  int            // releases that still failed at the lease's deadline, left to expire (faults only)
	ReleaseNotHeld int            // releases that said ErrNotHeld (faults only)
	Late           int            // leases too close to their deadline, when acquired, to work under
	Errors         map[string]int // error messages, counted (faults only)
}

func (r *result) add(o result) {
	r.Cycles += o.Cycles
	r.Overlaps += o.Overlaps
	r.AcquireErrors += o.AcquireErrors
	r.ReleaseErrors += o.ReleaseErrors
	r.ReleaseNotHeld += o.ReleaseNotHeld
	r.Late += o.Late
	for msg, n := range o.Errors {
		r.Errors[msg] += n
	}
}

func runChild(c config) error {
	if c.Faults {
		// go-redis logs each dial that fails; under faults they are
		// expected, and the Lock retries them.
		goredis.SetLogger(quietLogger{})
	}
	var (
		mu    sync.Mutex
		total = result{Errors: map[string]int{}}
		wg    sync.WaitGroup
		errs  = make([]error, c.Workers)
	)
	for w := range c.Workers {
		wg.Go(func() {
			r, err := work(c)
			mu.Lock()
			total.add(r)
			mu.Unlock()
			errs[w] = err
		})
	}
	wg.Wait()
	b, err := json.Marshal(total)
	if err != nil {
		return err
	}
	name := filepath.Join(c.Dir, fmt.Sprintf("result-%d", os.Getpid()))
	if err := os.WriteFile(name, b, 0o600); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// work runs the cycles of one goroutine, with a Lock of its own.
func work(c config) (result, error) {
	r := result{Errors: map[string]int{}}
	l, err := open(c)
	if err != nil {
		return r, err
	}
	defer l.Close()
	end := time.Now().Add(c.Duration)
	for i := 0; (c.Duration > 0 && time.Now().Before(end)) || (c.Duration <= 0 && i < c.Ops); i++ {
		if err := cycle(c, l, &r); err != nil {
			if !c.Faults {
				return r, err
			}
			r.Errors[shorten(err.Error())]++
		}
	}
	return r, nil
}

// open opens the Lock; under faults, it tries again for a minute.
func open(c config) (lock.Lock, error) {
	give := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		l, err := lock.Open(ctx, c.URL)
		cancel()
		if err == nil || !c.Faults || time.Now().After(give) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cycle acquires the lock, increments the counter under it, and releases
// it.
func cycle(c config, l lock.Lock, r *result) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lease, err := l.Acquire(ctx, c.Key, c.TTL)
	if err != nil {
		r.AcquireErrors++
		return err
	}
	// The work takes microseconds; a lease with less than half its ttl
	// left (a process descheduled for a second) is not worked under.
	if time.Until(lease.Deadline()) < c.TTL/2 {
		r.Late++
	} else if err := increment(c.Dir, r); err != nil {
		return err
	}
	return release(c, lease, r)
}

// increment adds one to the counter, inside the marker.
func increment(dir string, r *result) error {
	marker := filepath.Join(dir, markerFile)
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		r.Overlaps++
		report("found another holder inside")
	case err != nil:
		return err
	default:
		f.Close()
		defer os.Remove(marker)
	}
	counter := filepath.Join(dir, counterFile)
	n, err := readCounter(counter)
	if err != nil {
		r.Overlaps++
		report(err.Error())
		return nil
	}
	if err := os.WriteFile(counter, []byte(strconv.Itoa(n+1)), 0o600); err != nil {
		return err
	}
	r.Cycles++
	return nil
}

// reported counts the overlaps this process reported; it reports the
// first few only.
var reported atomic.Int32

func report(what string) {
	if reported.Add(1) <= 5 {
		fmt.Fprintf(os.Stderr, "stress: OVERLAP: process %d: %s\n", os.Getpid(), what)
	}
}

// release releases the lease; under faults, it tries again until the
// lease's deadline, after which the lock expires anyway.
func release(c config, lease *lock.Lease, r *result) error {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := lease.Release(ctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case !c.Faults:
			return err
		case errors.Is(err, lock.ErrNotHeld):
			r.ReleaseNotHeld++
			return err
		case time.Now().After(lease.Deadline()):
			r.ReleaseErrors++
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
