//go:build !linux

package main

// harden does nothing outside Linux: there is no PR_SET_DUMPABLE.
func harden() error { return nil }
