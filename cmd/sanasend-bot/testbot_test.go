package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// testBotEnv switches the test binary into a stand-in for the bot
// (TestMain): "run" goes through run, as the real program does, and so
// makes itself non-dumpable; "dumpable" skips it. Either way it then says
// "ready" and holds its environment (a fake token) until stdin closes.
const testBotEnv = "SANASEND_TEST_BOT"

func testBotMain(mode string) int {
	if mode == "run" {
		if err := run(context.Background(), []string{"version"}, nil, io.Discard, io.Discard); err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
			return 1
		}
	}
	dumpable, err := dumpableForTest()
	if err != nil {
		fmt.Fprintln(os.Stderr, "PR_GET_DUMPABLE:", err)
		return 1
	}
	fmt.Printf("ready dumpable=%d\n", dumpable)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}
