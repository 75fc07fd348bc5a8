package locktest_test

import (
	"flag"
	"testing"

	"go.uber.org/goleak"

	"github.com/distlock/lock/internal/testpar"
)

// TestMain runs the tests and then fails the package if any goroutine
// outlives them: a Lock, client or server a test did not close, or a
// keep-alive, janitor or background release still running.
func TestMain(m *testing.M) {
	flag.Parse()
	testpar.Raise()
	goleak.VerifyTestMain(m)
}
