//go:build unix

// Package servicefstest plants the hostile files a service's dir can hold
// where the bot expects its log: a FIFO that would block an open, and a
// symlink out of the dir. Every reader of the service's files is tested
// against the same cases, and expects the same refusal. Tests only.
package servicefstest

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

// Hostile is one hostile file.
type Hostile struct {
	Name string
	// Plant puts it at path; outside is a path outside the service's dir
	// (the symlink's target, made by the caller when it matters).
	Plant func(t testing.TB, path, outside string)
	// Refusal is what a reader answers for it when path is the service's
	// logs/combined.log.
	Refusal func(outside string) string
}

// Cases are the hostile files every reader must refuse.
func Cases() []Hostile {
	return []Hostile{
		{"fifo", func(t testing.TB, path, _ string) {
			t.Helper()
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, func(string) string { return "logs/combined.log is a FIFO, not a file; the bot will not read it" }},
		{"symlink out of the dir", func(t testing.TB, path, outside string) {
			t.Helper()
			if err := os.Symlink(outside, path); err != nil {
				t.Fatal(err)
			}
		}, func(outside string) string {
			return fmt.Sprintf("logs/combined.log is a symlink out of the service's dir (to %s): refused", outside)
		}},
	}
}
