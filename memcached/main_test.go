package memcached_test

import (
	"flag"
	"os"
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
// default of GOMAXPROCS, unless -parallel was given or a real server is
// configured. The parallel tests on the fake (the fault table, the
// conformance suite, the keep-alive and bound tests) spend their time
// sleeping on real time and waiting out timeouts, not computing: held to
// GOMAXPROCS at once, they wait for each other's sleeps. The tests of a
// real server keep the default: their suites run every subtest in
// parallel against the one server.
func raiseParallel() {
	keep := os.Getenv("LOCK_TEST_MEMCACHED_URL") != "" || os.Getenv("LOCK_TEST_MEMCACHED_BIN") != ""
	flag.Visit(func(f *flag.Flag) { keep = keep || f.Name == "test.parallel" })
	if !keep {
		_ = flag.Set("test.parallel", strconv.Itoa(max(16, runtime.GOMAXPROCS(0))))
	}
}
