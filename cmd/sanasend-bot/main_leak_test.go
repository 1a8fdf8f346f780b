package main

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/internal/cgroup/cgrouptest"
)

// TestMain fails the package's tests if any goroutine outlives them. With
// $SANASEND_TEST_BOT set, the test binary is instead a stand-in for the bot
// (see harden_test.go).
func TestMain(m *testing.M) {
	if mode := os.Getenv(testBotEnv); mode != "" {
		os.Exit(testBotMain(mode))
	}
	// A bot started in-process makes its services' cgroups below its own:
	// the tests' cgroup, removed with whatever the tests left in it.
	leave := cgrouptest.Enclose()
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if err := leave(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
		os.Exit(code)
	}))
}
