package manager

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLastErrorLines(t *testing.T) {
	padding := strings.Repeat("info: all fine\n", 200) // 3,000 bytes
	tests := []struct {
		name    string
		log     *string // nil: no log file
		n       int
		maxScan int64
		ctxDone bool
		want    []string
		wantErr error
	}{
		{"no log yet", nil, 5, 1 << 20, false, nil, nil},
		{"none", ptr("info: up\ninfo: ready\n"), 5, 1 << 20, false, nil, nil},
		{"the last n, oldest first", ptr("Error: a\ninfo: b\nerror: c\nERROR d\nerror e\n"), 2, 1 << 20, false,
			[]string{"ERROR d", "error e"}, nil},
		{"health polls excluded", ptr(`{"level":"error","message":"GET /health"}` + "\nerror: real\n"), 5, 1 << 20, false,
			[]string{"error: real"}, nil},
		{"only the last maxScan bytes", ptr("error: old\n" + padding + "error: new\n"), 5, 1000, false,
			[]string{"error: new"}, nil},
		{"ctx done", ptr("error: a\n"), 5, 1 << 20, true, nil, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "whatsapp.log")
			if tc.log != nil {
				if err := os.WriteFile(path, []byte(*tc.log), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.ctxDone {
				cancel()
			}
			got, err := lastErrorLines(ctx, "", path, tc.n, tc.maxScan)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("lastErrorLines() error = %v; want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && !slices.Equal(got, tc.want) {
				t.Errorf("lastErrorLines() = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestLastErrorLinesRefusesBadN(t *testing.T) {
	for _, n := range []int{0, -1, MaxLogLines + 1} {
		if _, err := lastErrorLines(context.Background(), "", filepath.Join(t.TempDir(), "x.log"), n, 1<<20); err == nil {
			t.Errorf("lastErrorLines(n=%d) error = nil; want one", n)
		}
	}
}

func ptr(s string) *string { return &s }
