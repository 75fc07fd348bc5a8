//go:build unix

package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distlock/lock/internal/testpar"
)

// helperEnv, set in the environment of the distlock processes that the
// tests start, makes this test binary, when started by them as COMMAND,
// act as one of the helper programs below instead of running tests.
const helperEnv = "DISTLOCK_TEST_HELPER"

// raceEnabled is set by race_test.go: the binary under test is then built
// with -race too.
var raceEnabled bool

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helper(os.Args[1:]))
	}
	// The end-to-end tests run in parallel, each on stores and keys of its
	// own, and mostly wait: for ttls, -wait and -grace, and for processes.
	flag.Parse()
	testpar.Raise("LOCK_TEST_MEMCACHED_URL", "LOCK_TEST_REDIS_URL")
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// distlockBinary builds distlock, once per test binary, and returns its
// path.
func distlockBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "distlock-test")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "distlock")
		args := []string{"build", "-o", build.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command(goTool(), append(args, ".")...).CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// helper runs this test binary as a helper program, the COMMAND of a
// distlock run, and returns its exit status:
//
//	stamp FILE HOLD  appends "start NANOS", waits HOLD, appends "end NANOS"
//	hold READY       writes "KEY TOKEN" to READY, then waits for SIGTERM or
//	                 SIGINT, appends "SIGNAL NANOS" to READY.sig, and dies of it
//	stubborn READY   as hold, but survives SIGTERM (it only notes it)
//	echo N           writes "out" to stdout, "err" to stderr, copies stdin to
//	                 stdout, writes key= and token= lines, exits N
//	die N            ends itself with signal N
//	touch FILE       creates FILE
//	pid FILE         writes its process id to FILE, then waits (a minute)
func helper(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "helper: no command")
		return 2
	}
	const limit = time.Minute // no helper outlives a failed test for long
	switch args[0] {
	case "stamp":
		hold, _ := time.ParseDuration(args[2])
		appendLine(args[1], "start %d", time.Now().UnixNano())
		time.Sleep(hold)
		appendLine(args[1], "end %d", time.Now().UnixNano())
		return 0
	case "hold", "stubborn":
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		tmp := args[1] + ".tmp"
		os.WriteFile(tmp, []byte(os.Getenv("DISTLOCK_KEY")+" "+os.Getenv("DISTLOCK_TOKEN")), 0o600)
		os.Rename(tmp, args[1])
		timeout := time.After(limit)
		for {
			select {
			case s := <-sigs:
				appendLine(args[1]+".sig", "%s %d", signalName(s), time.Now().UnixNano())
				if args[0] == "stubborn" && s == syscall.SIGTERM {
					continue
				}
				signal.Reset()
				syscall.Kill(os.Getpid(), s.(syscall.Signal))
				time.Sleep(time.Second)
				return 1
			case <-timeout:
				return 99
			}
		}
	case "echo":
		code, _ := strconv.Atoi(args[1])
		fmt.Println("out")
		fmt.Fprintln(os.Stderr, "err")
		io.Copy(os.Stdout, os.Stdin)
		fmt.Printf("key=%s\ntoken=%s\n", os.Getenv("DISTLOCK_KEY"), os.Getenv("DISTLOCK_TOKEN"))
		return code
	case "die":
		n, _ := strconv.Atoi(args[1])
		signal.Reset()
		syscall.Kill(os.Getpid(), syscall.Signal(n))
		time.Sleep(time.Second)
		return 1
	case "touch":
		os.WriteFile(args[1], nil, 0o600)
		return 0
	case "pid":
		tmp := args[1] + ".tmp"
		os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o600)
		os.Rename(tmp, args[1])
		time.Sleep(limit)
		return 99
	}
	fmt.Fprintf(os.Stderr, "helper: unknown command %q\n", args[0])
	return 2
}

func appendLine(name, format string, args ...any) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	fmt.Fprintf(f, format+"\n", args...)
	f.Close()
}
