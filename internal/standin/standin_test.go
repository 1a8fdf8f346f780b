package standin

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirHasWhatRuns(t *testing.T) {
	a, b := Dir(t), Dir(t)
	if a == b {
		t.Fatalf("two copies share %s", a)
	}
	for _, p := range []string{"package.json", "src/server.js", "src/fake-chromium.js", "data/active-sessions.json"} {
		if _, err := os.Stat(filepath.Join(a, p)); err != nil {
			t.Errorf("the copy has no %s: %v", p, err)
		}
	}
	for _, p := range []string{"logs", ".wwebjs_auth", "node_modules"} {
		if _, err := os.Stat(filepath.Join(a, p)); err == nil {
			t.Errorf("the copy has %s: what a run left in the repository's copy must not follow", p)
		}
	}
}
