package statefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type doc struct {
	N    int
	Name string
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	f, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	var d doc
	if ok, err := f.Load(&d); ok || err != nil {
		t.Fatalf("Load of a missing file = %v, %v; want false, nil", ok, err)
	}
	if err := f.Save(doc{N: 3, Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(doc{N: 4, Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Load(&d); !ok || err != nil || d != (doc{4, "b"}) {
		t.Fatalf("Load = %v, %v, %+v; want true, nil, {4 b}", ok, err, d)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v; want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := New(bad)
	var d doc
	if _, err := f.Load(&d); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load of a torn file: %v; want an error naming it", err)
	}
	if _, err := New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
	// A file where the directory should be: Save fails, saying where.
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	g, _ := New(filepath.Join(blocker, "state.json"))
	if err := g.Save(doc{}); err == nil || !strings.Contains(err.Error(), "blocker") {
		t.Errorf("Save under a file: %v; want an error naming the path", err)
	}
}
