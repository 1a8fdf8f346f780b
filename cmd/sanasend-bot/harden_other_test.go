//go:build !linux

package main

import "errors"

// dumpableForTest: only Linux has PR_GET_DUMPABLE.
func dumpableForTest() (int, error) { return 0, errors.New("not Linux") }
