//go:build windows

package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/windows"
)

// checkDirWritable: Windows has no access(2); a directory is taken as writable
// unless it carries the read-only attribute. ACLs are not evaluated.
func checkDirWritable(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o200 == 0 {
		return errors.New("read-only")
	}
	return nil
}

func checkFileWritable(file string) error { return checkDirWritable(file) }

// checkIsExecutable: a regular file; whether it runs is the extension's business
// (see checkExecCandidates).
func checkIsExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: %w", path, errCheckNotExecutable)
	}
	return nil
}

// checkExecCandidates tries path as is when it has an extension of PATHEXT, else
// path plus each of them (npm -> npm.cmd), as os/exec does.
func checkExecCandidates(path string, env []string) []string {
	pathext, _ := checkEnvLookup(env, "PATHEXT")
	var exts []string
	for _, e := range strings.Split(strings.ToLower(pathext), ";") {
		if e == "" {
			continue
		}
		if e[0] != '.' {
			e = "." + e
		}
		exts = append(exts, e)
	}
	if len(exts) == 0 {
		exts = []string{".com", ".exe", ".bat", ".cmd"}
	}
	ext := strings.ToLower(filepath.Ext(path))
	for _, e := range exts {
		if ext == e {
			return []string{path}
		}
	}
	out := make([]string, 0, len(exts))
	for _, e := range exts {
		out = append(out, path+e)
	}
	return out
}

// checkEnvKeyEqual: environment keys are case-insensitive on Windows ("Path").
func checkEnvKeyEqual(a, b string) bool { return strings.EqualFold(a, b) }

func checkAddrInUse(err error) bool {
	return errors.Is(err, windows.WSAEADDRINUSE) || errors.Is(err, syscall.EADDRINUSE)
}
