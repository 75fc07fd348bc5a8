package memory_test

import (
	"flag"
	"runtime"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the tests and then fails the package if any goroutine
// outlives them: a Lock, client or server a test did not close, or a
// keep-alive, janitor or background release still running.
func TestMain(m *testing.M) {
	flag.Parse()
	raiseParallel()
	goleak.VerifyTestMain(m)
}

// raiseParallel lets 16 parallel tests run at once, rather than go test's
// default of GOMAXPROCS, unless -parallel was given. The parallel tests
// here (the conformance suites and their subtests on real time) spend
// their time sleeping, not computing: held to GOMAXPROCS at once, they
// wait for each other's sleeps.
func raiseParallel() {
	keep := false
	flag.Visit(func(f *flag.Flag) { keep = keep || f.Name == "test.parallel" })
	if !keep {
		_ = flag.Set("test.parallel", strconv.Itoa(max(16, runtime.GOMAXPROCS(0))))
	}
}
