package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them. With
// $SANASEND_TEST_BOT set, the test binary is instead a stand-in for the bot
// (see harden_test.go).
func TestMain(m *testing.M) {
	if mode := os.Getenv(testBotEnv); mode != "" {
		os.Exit(testBotMain(mode))
	}
	goleak.VerifyTestMain(m)
}
