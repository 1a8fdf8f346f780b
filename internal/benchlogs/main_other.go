//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "benchlogs: runs on Linux only (GNU tail, /proc, ptrace), not %s\n", runtime.GOOS)
	os.Exit(2)
}
