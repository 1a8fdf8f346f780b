package hub

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them. Run
// with benchAgentsEnv set, the test binary is the process of the simulated
// agents of BenchmarkFleetStatus instead.
func TestMain(m *testing.M) {
	if os.Getenv(benchAgentsEnv) != "" {
		os.Exit(runBenchAgents())
	}
	goleak.VerifyTestMain(m)
}
