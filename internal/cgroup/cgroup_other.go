//go:build !linux

package cgroup

import (
	"context"
	"os"
)

// Find reports that cgroups are not available: they exist on Linux only.
func Find() (Hierarchy, error) { return Hierarchy{}, &UnavailableError{Reason: NotLinux} }

// At reports that cgroups are not available: they exist on Linux only.
func At(string) (Hierarchy, error) { return Hierarchy{}, &UnavailableError{Reason: NotLinux} }

// Create reports that cgroups are not available.
func (Hierarchy) Create(string) (*Group, error) { return nil, &UnavailableError{Reason: NotLinux} }

// Group reports that cgroups are not available.
func (Hierarchy) Group(string) (*Group, error) { return nil, &UnavailableError{Reason: NotLinux} }

// Group is one service's cgroup; there is none on this system.
type Group struct{}

// Path is "".
func (*Group) Path() string { return "" }

// Open reports that cgroups are not available.
func (*Group) Open() (*os.File, error) { return nil, &UnavailableError{Reason: NotLinux} }

// Procs reports that cgroups are not available.
func (*Group) Procs() ([]int, error) { return nil, &UnavailableError{Reason: NotLinux} }

// Populated reports that cgroups are not available.
func (*Group) Populated() (bool, error) { return false, &UnavailableError{Reason: NotLinux} }

// Kill reports that cgroups are not available.
func (*Group) Kill() error { return &UnavailableError{Reason: NotLinux} }

// WaitEmpty reports that cgroups are not available.
func (*Group) WaitEmpty(context.Context) error { return &UnavailableError{Reason: NotLinux} }

// Remove reports that cgroups are not available.
func (*Group) Remove() error { return &UnavailableError{Reason: NotLinux} }
