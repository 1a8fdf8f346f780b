package config

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSlowRandomTmp(t *testing.T) {
	var seeds [][]byte
	for _, n := range []string{"full.yaml", "bad-types.yaml", "bad-keys.yaml", "bad-rules.yaml"} {
		b, _ := os.ReadFile(filepath.Join("testdata", n))
		seeds = append(seeds, b)
	}
	seeds = append(seeds, []byte("services:\n  - &a {dir: /s, <<: *a}\n"), []byte("x: &a [*a]\n"), []byte("- &a {<<: [*a, *a]}\n"))
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	deadline := time.Now().Add(40 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		b := append([]byte(nil), seeds[r.Intn(len(seeds))]...)
		for k := r.Intn(8); k >= 0; k-- {
			if len(b) == 0 {
				b = append(b, '&')
			}
			i := r.Intn(len(b))
			switch r.Intn(5) {
			case 0:
				b = append(b[:i], b[min(len(b), i+r.Intn(10)):]...)
			case 1:
				j := r.Intn(len(b))
				e := min(len(b), j+r.Intn(40))
				chunk := append([]byte(nil), b[j:e]...)
				nb := append([]byte(nil), b[:i]...)
				nb = append(nb, chunk...)
				b = append(nb, b[i:]...)
			case 2:
				b[i] = "&*<:-[]{},\n #${}ab"[r.Intn(18)]
			case 3:
				b = append(append(append([]byte(nil), b[:i]...), " *a"...), b[i:]...)
			case 4:
				b = append(append(append([]byte(nil), b[:i]...), " &a "...), b[i:]...)
			}
		}
		start := time.Now()
		Parse(b, testPath, nil)
		n++
		if el := time.Since(start); el > 200*time.Millisecond {
			s2 := time.Now()
			Parse(b, testPath, nil)
			if time.Since(s2) < 100*time.Millisecond {
				continue
			}
			t.Errorf("%v for %q", el, b)
			os.WriteFile("/tmp/slow_input.yaml", b, 0o644)
			return
		}
	}
	t.Logf("%d inputs", n)
}
