package memcached_test

import (
	"flag"
	"testing"

	"go.uber.org/goleak"

	"github.com/distlock/lock/internal/testpar"
)

// The tests that call t.Parallel at the top level are kept to
// testpar.Most (8), so that each gets a slot of -parallel as soon as the
// sequential tests end: TestConformanceFake, which takes longest, must not
// wait for one behind the fault table's scenarios. (The others at the top
// level: TestFaults, TestKeepAliveLoad, TestKeepAliveBatch, and four of
// bound_test.go.)

// TestMain runs the tests and then fails the package if any goroutine
// outlives them: a Lock, client or server a test did not close, or a
// keep-alive, janitor or background release still running.
func TestMain(m *testing.M) {
	flag.Parse()
	testpar.Raise("LOCK_TEST_MEMCACHED_URL", "LOCK_TEST_MEMCACHED_BIN")
	goleak.VerifyTestMain(m)
}
