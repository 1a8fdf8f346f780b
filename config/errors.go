package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// FieldError is one problem in a configuration. Its message names the key
// path, the value (never a secret's) and why it is wrong, and the YAML line
// when known:
//
//	services[0].stop_timeout: "ten" is not a duration (line 14)
type FieldError struct {
	Path string // key path, e.g. "services[0].stop_timeout"; "" for the whole file
	Line int    // YAML line, 0 when unknown (a missing key, a Config built in code)
	Msg  string // what is wrong, e.g. `"ten" is not a duration`
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// joinSorted sorts errs by line (errors without a line last, keeping their
// order) and joins them with errors.Join.
func joinSorted(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool {
		li, lj := errLine(errs[i]), errLine(errs[j])
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
	return errors.Join(errs...)
}

func errLine(err error) int {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Line
	}
	return 0
}

// loadError is what Parse returns: every problem in the file, one per line,
// under a heading that names the file.
type loadError struct {
	path   string
	joined error // errors.Join of the problems, sorted by line
	n      int
}

func newLoadError(path string, errs []error) error {
	return &loadError{path: path, joined: joinSorted(errs), n: len(errs)}
}

func (e *loadError) Error() string {
	head := "config"
	if e.path != "" {
		head += " " + e.path
	}
	if e.n == 1 {
		return head + ": " + e.joined.Error()
	}
	return fmt.Sprintf("%s: %d problems:\n%s", head, e.n, e.joined)
}

// Unwrap returns the individual problems, so that errors.As finds each
// *FieldError.
func (e *loadError) Unwrap() []error {
	if u, ok := e.joined.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{e.joined}
}
