package agent

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/manager"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var _ Service = (*manager.Service)(nil)
