package postgres_test

import (
	"flag"
	"testing"

	"go.uber.org/goleak"

	"github.com/distlock/lock/internal/testpar"
)

// TestMain runs the tests and then fails the package if any goroutine
// outlives them: a Lock, pool or listener a test did not close.
func TestMain(m *testing.M) {
	flag.Parse()
	testpar.Raise("LOCK_TEST_POSTGRES_URL", "LOCK_TEST_PGBOUNCER_URL")
	goleak.VerifyTestMain(m)
}
