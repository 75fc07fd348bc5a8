// Command stress checks mutual exclusion across processes: it starts
// several copies of itself, each of which acquires one lock over and over
// and, while holding it, increments a counter kept in a shared file by a
// plain read and write. A lost update, which only two holders at once can
// cause, leaves the counter short of the increments the processes report.
// A second witness, independent of the counter, catches the overlap as it
// happens: each holder creates a marker file exclusively (O_EXCL) when it
// enters and removes it when it leaves, so a holder that finds the marker
// there has company.
//
//	go run ./examples/stress -url memcached://127.0.0.1:11211 -procs 4 -ops 250000
//
// That is 2M lock cycles (-procs × -workers × -ops): at the few thousand
// cycles a second of a local server, over ten minutes; .ci/run uses 300.
//
// With -faults, the processes reach the store through a fault proxy that
// the parent runs (locktest/faultproxy), which flaps between passing
// traffic and faults: slow replies (under and over the client's timeout),
// reset connections, replies cut short, a black hole, and a store that
// refuses connections. Errors are then expected, and counted; only a
// violation of exclusion fails the run. -duration runs each goroutine for
// that long instead of -ops cycles:
//
//	go run ./examples/stress -url redis://127.0.0.1:6379/0 -faults -duration 10m
//
// It exits 0 when the counter is exact and no overlap was witnessed, 1
// when either fails (or, without -faults, a lock call fails), and 2 on bad
// flags.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/distlock/lock/memcached"
	_ "github.com/distlock/lock/postgres"
	_ "github.com/distlock/lock/redis"
)

// config is what the parent passes on to its children.
type config struct {
	URL      string        // the store's URL, or the proxy's in fault mode
	Key      string        // the lock's key
	Dir      string        // where the counter, the marker and the results are
	Workers  int           // goroutines per process, each with its own Lock
	Ops      int           // cycles per goroutine, when Duration is 0
	Duration time.Duration // how long each goroutine cycles, if not 0
	TTL      time.Duration // the lock's ttl
	Faults   bool          // errors are counted, not fatal
}

func main() {
	rawURL := flag.String("url", "", "lock store URL, of a store shared between processes (required)")
	procs := flag.Int("procs", 4, "processes")
	workers := flag.Int("workers", 2, "goroutines per process, each with its own Lock")
	ops := flag.Int("ops", 1000, "lock cycles per goroutine")
	duration := flag.Duration("duration", 0, "cycle for this long instead of -ops cycles")
	faults := flag.Bool("faults", false, "reach the store through a fault proxy that flaps between passing and faults")
	ttl := flag.Duration("ttl", 0, "the lock's ttl (default 30s, 2s with -faults: a lock whose release fails blocks the others that long)")
	child := flag.String("child", "", "internal: run as a child with this JSON configuration")
	flag.Parse()

	if *child != "" {
		var c config
		if err := json.Unmarshal([]byte(*child), &c); err != nil {
			fmt.Fprintln(os.Stderr, "stress: bad -child:", err)
			os.Exit(2)
		}
		if err := runChild(c); err != nil {
			fmt.Fprintln(os.Stderr, "stress:", err)
			os.Exit(1)
		}
		return
	}
	u, err := url.Parse(*rawURL)
	if *rawURL == "" || err != nil || u.Scheme == "memory" {
		fmt.Fprintln(os.Stderr, "stress: -url must name a store shared between processes, such as memcached://127.0.0.1:11211")
		os.Exit(2)
	}
	if *procs < 1 || *workers < 1 || (*ops < 1 && *duration <= 0) || *ttl < 0 {
		fmt.Fprintln(os.Stderr, "stress: want -procs, -workers and -ops (or -duration) of at least 1, and -ttl not negative")
		os.Exit(2)
	}
	if *ttl == 0 {
		*ttl = 30 * time.Second
		if *faults {
			*ttl = 2 * time.Second
		}
	}
	c := config{URL: *rawURL, Workers: *workers, Ops: *ops, Duration: *duration, TTL: *ttl, Faults: *faults}
	if err := runParent(u, *procs, c); err != nil {
		fmt.Fprintln(os.Stderr, "stress:", err)
		os.Exit(1)
	}
}

func runParent(u *url.URL, procs int, c config) error {
	dir, err := os.MkdirTemp("", "lock-stress")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c.Dir = dir
	c.Key = fmt.Sprintf("stress:%d", time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(dir, counterFile), []byte("0"), 0o600); err != nil {
		return err
	}
	var f *flapper
	if c.Faults {
		if f, err = startFlapper(u); err != nil {
			return err
		}
		c.URL = f.url
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	arg, err := json.Marshal(c)
	if err != nil {
		return err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for p := range procs {
		wg.Go(func() {
			cmd := exec.Command(self, "-child", string(arg))
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			errs[p] = cmd.Run()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var faults string
	if f != nil {
		faults = f.stop()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	total, err := readResults(dir)
	if err != nil {
		return err
	}
	got, err := readCounter(filepath.Join(dir, counterFile))
	if err != nil {
		return err
	}
	how := ""
	if c.Faults {
		how = " through a fault proxy"
	}
	fmt.Printf("%d processes x %d goroutines on %s%s, %v: %d cycles (%.0f/s), counter %d, %d overlaps witnessed\n",
		procs, c.Workers, u.Redacted(), how, elapsed.Round(time.Millisecond), total.Cycles,
		float64(total.Cycles)/elapsed.Seconds(), got, total.Overlaps)
	if c.Faults {
		fmt.Printf("  faults: %s\n", faults)
		fmt.Printf("  under them: %d acquires failed, %d releases failed (left to expire), %d releases said not held, %d leases too close to their deadline to use\n",
			total.AcquireErrors, total.ReleaseErrors, total.ReleaseNotHeld, total.Late)
		for msg, n := range total.Errors {
			fmt.Printf("    %6d× %s\n", n, msg)
		}
	}
	switch {
	case total.Overlaps > 0:
		return fmt.Errorf("%d overlapping holders witnessed", total.Overlaps)
	case got != total.Cycles:
		return fmt.Errorf("counter %d, want %d: %d updates lost to overlapping holders", got, total.Cycles, total.Cycles-got)
	case total.Cycles == 0:
		return errors.New("no cycle completed")
	}
	return nil
}

// readCounter reads the counter file.
func readCounter(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, fmt.Errorf("counter file half-written (%q): two holders at once", b)
	}
	return n, nil
}

// readResults sums the results the children wrote.
func readResults(dir string) (result, error) {
	total := result{Errors: map[string]int{}}
	names, err := filepath.Glob(filepath.Join(dir, "result-*"))
	if err != nil {
		return total, err
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return total, err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return total, fmt.Errorf("%s: %w", filepath.Base(name), err)
		}
		total.add(r)
	}
	return total, nil
}

// shorten keeps error messages to one short line, for the summary.
func shorten(msg string) string {
	msg = strings.ReplaceAll(msg, "\n", " ")
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	return msg
}
