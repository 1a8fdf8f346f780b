//go:build linux

package systemdtest

import (
	"testing"
)

func TestBoot(t *testing.T) {
	s := Start(t, Options{})
	t.Log(s.Console())
}
