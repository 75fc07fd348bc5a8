// Package testpar raises the number of parallel tests of a package whose
// tests sleep on real time (expiries, timeouts, keep-alives) rather than
// compute: held to go test's default of GOMAXPROCS at once, they wait for
// each other's sleeps.
package testpar

import (
	"flag"
	"os"
	"runtime"
	"strconv"
)

// Most is how many parallel tests Raise lets run at once. More was no
// faster on two cores, and under -race it made the fault scenarios' round
// trips time out.
const Most = 8

// Raise sets -test.parallel to Most (or GOMAXPROCS, if more), unless the
// command line gave -test.parallel or one of the environment variables
// named is set (a real server configured: its suites keep the default).
// Call it from TestMain, after flag.Parse.
func Raise(unlessSet ...string) {
	keep := false
	for _, name := range unlessSet {
		keep = keep || os.Getenv(name) != ""
	}
	flag.Visit(func(f *flag.Flag) { keep = keep || f.Name == "test.parallel" })
	if !keep {
		_ = flag.Set("test.parallel", strconv.Itoa(max(Most, runtime.GOMAXPROCS(0))))
	}
}
