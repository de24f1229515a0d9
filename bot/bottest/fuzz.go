package bottest

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// FuzzMinimizeTime is the -fuzzminimizetime FuzzMain sets: how long fuzzing
// may spend making an input smaller once it reaches new code. (flows, which
// imports none of our packages, keeps its own: flows/fuzz_test.go.)
const FuzzMinimizeTime = "2s"

// minimizeTimeGiven: the command line gave -fuzzminimizetime (FuzzMain).
var minimizeTimeGiven bool

// FuzzMain is the TestMain of a package with fuzz targets: it sets
// -fuzzminimizetime to FuzzMinimizeTime unless the command line gives one,
// then runs the tests (the test binary exits with their result). Testing's
// default, 60 s, can leave a fuzzing run no time to fuzz: the minimiser's
// pass over subranges runs the target about n²/2 times for an n-byte input,
// so a large seed that reaches new code (a recorded platform payload of a
// few kB) is minimised for the whole minute before fuzzing goes on.
func FuzzMain(m *testing.M) {
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { minimizeTimeGiven = minimizeTimeGiven || f.Name == "test.fuzzminimizetime" })
	if !minimizeTimeGiven {
		if err := flag.Set("test.fuzzminimizetime", FuzzMinimizeTime); err != nil {
			fmt.Fprintf(os.Stderr, "set -fuzzminimizetime: %v\n", err)
			os.Exit(2)
		}
	}
	m.Run()
}

// CheckFuzzMinimizeTime fails t unless the package's tests run with
// -fuzzminimizetime FuzzMinimizeTime (its TestMain calls FuzzMain); it
// skips t when the command line gave one.
func CheckFuzzMinimizeTime(t *testing.T) {
	t.Helper()
	if minimizeTimeGiven {
		t.Skip("-fuzzminimizetime given on the command line")
	}
	if got := flag.Lookup("test.fuzzminimizetime").Value.String(); got != FuzzMinimizeTime {
		t.Fatalf("-fuzzminimizetime = %s, want %s: with testing's default of 60 s, a fuzzing run may spend its time minimising; call bottest.FuzzMain from the package's TestMain", got, FuzzMinimizeTime)
	}
}
