package cgroup

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs a helper when the test binary is started as one (see
// helper_linux_test.go), else the tests, failing them if any goroutine
// outlives them.
func TestMain(m *testing.M) {
	if code, ok := runHelper(os.Getenv(helperEnv)); ok {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// helperEnv names the helper the test binary runs instead of the tests.
const helperEnv = "SANASEND_CGROUP_TEST_HELPER"
