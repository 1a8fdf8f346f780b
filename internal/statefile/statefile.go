// Package statefile keeps one JSON document in a file of the bot's state
// dir and replaces it atomically: a crash (even SIGKILL or a power cut)
// leaves either the old document or the new one, never half of one. It is
// the durable layer under the bot's small stores (alert state, confirmation
// tokens); it knows nothing about what they keep.
package statefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// File is one JSON document at a path. It does no locking: its owner
// serialises Load and Save.
type File struct {
	path string
}

// New returns the document at path. It validates and does no I/O: the file
// and its directory are made by the first Save.
func New(path string) (*File, error) {
	if path == "" {
		return nil, errors.New("state file: no path")
	}
	return &File{path: filepath.Clean(path)}, nil
}

// Path is where the document lives.
func (f *File) Path() string { return f.path }

// Load decodes the document into v. It returns false and no error when
// there is no document yet, and an error naming the file when it cannot be
// read or decoded.
func (f *File) Load(v any) (bool, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", f.path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", f.path, err)
	}
	return true, nil
}

// Save replaces the document with v: written to a temporary file beside it,
// synced, renamed over it, and the directory synced. The directory is made
// (0700) when missing; the file is 0600.
func (f *File) Save(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", f.path, err)
	}
	return WriteAtomic(f.path, data)
}

// WriteAtomic replaces the file at path with data, as Save does.
func WriteAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := writeSynced(tmp, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("write %s: sync dir: %w", path, err)
	}
	return nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// SyncDir fsyncs dir, so that a rename or a new file in it is durable.
// Windows cannot sync a directory, and does not need to.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
