package config

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestSlowTmp(t *testing.T) {
	dir := os.Getenv("FUZZDIR")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		// file format: go test fuzz v1\n[]byte("...")
		lines := string(b)
		i := len("go test fuzz v1\n[]byte(")
		s, err := strconv.Unquote(lines[i : len(lines)-2])
		if err != nil {
			t.Logf("%s: %v", e.Name(), err)
			continue
		}
		start := time.Now()
		_, perr := Parse([]byte(s), testPath, nil)
		if el := time.Since(start); el > 50*time.Millisecond {
			t.Logf("%s: %v %d bytes %q err=%.200v", e.Name(), el, len(s), s[:min(len(s), 300)], perr)
		}
	}
}
