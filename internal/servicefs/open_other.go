//go:build !linux

package servicefs

import (
	"os"
)

// openBeneath resolves rel under dir and checks the result (openResolved).
func openBeneath(dir, rel string) (*os.File, error) { return openResolved(dir, rel) }
