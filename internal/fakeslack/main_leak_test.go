package fakeslack_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// fake's websocket goroutines, and the slack-go clients the tests run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
