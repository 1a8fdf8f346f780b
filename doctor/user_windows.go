//go:build windows

package doctor

// dirOwner: Windows has no uids.
func dirOwner(string) (int, error) { return 0, errNoUIDSystem }
