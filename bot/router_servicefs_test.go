//go:build !windows

package bot

import (
	"context"
	"github.com/sanasend/sanasend-bot/internal/servicefs/servicefstest"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/manager"
)

// handleAll runs the commands at once, as the front end's workers do, and
// fails the test when any does not answer within the deadline.
func handleAll(t *testing.T, r *Router, texts ...string) map[string]Reply {
	t.Helper()
	var mu sync.Mutex
	got := map[string]Reply{}
	var wg sync.WaitGroup
	for _, text := range texts {
		wg.Go(func() {
			reply := r.Handle(context.Background(), req(alice, text))
			mu.Lock()
			got[text] = reply
			mu.Unlock()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("after 15s only %d of %v answered", len(got), texts)
	}
	return got
}

// What the service's user plants at the log path of the running stand-in
// is never read: a FIFO does not freeze logs, status, help or ps, and a
// symlink out of the service's dir is refused with its reason, in `logs`
// and in an alert's error lines.
func TestRouterHostileLogPath(t *testing.T) {
	for _, tt := range servicefstest.Cases() {
		t.Run(tt.Name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			l.Close()
			svc := standinService(t, port)
			if _, err := svc.Start(context.Background(), alice, nil); err != nil {
				t.Fatalf("start the stand-in: %v", err)
			}
			secret := filepath.Join(t.TempDir(), "shadow")
			if err := os.WriteFile(secret, []byte("root:SECRET-HASH:error:19000\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			log := svc.Config().LogFile
			if err := os.Remove(log); err != nil { // the stand-in keeps writing the unlinked file
				t.Fatal(err)
			}
			tt.Plant(t, log, secret)
			confirms, err := NewConfirmStore(ConfirmConfig{TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewRouter(RouterConfig{Services: oneService{svc}, Auth: allowList{alice.ID: true},
				Confirms: confirms, Audit: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}

			got := handleAll(t, r, "logs", "status", "logs 5 error")
			want := tt.Refusal(secret)
			for _, text := range []string{"logs", "logs 5 error"} {
				if reply := got[text]; reply.Kind != KindError || reply.Text != want {
					t.Errorf("%s = %s %q; want an error %q", text, reply.Kind, reply.Text, want)
				}
			}
			if reply := got["status"]; reply.Kind != KindStatus || reply.Status == nil || len(reply.Status.Processes) == 0 {
				t.Errorf("status = %s %q %+v; want the status of the running service", reply.Kind, reply.Text, reply.Status)
			}
			got = handleAll(t, r, "help", "ps")
			if got["help"].Kind != KindHelp || got["ps"].Kind != KindProcesses || len(got["ps"].Processes) == 0 {
				t.Errorf("help = %s, ps = %s with %d processes; want help and the processes", got["help"].Kind, got["ps"].Kind, len(got["ps"].Processes))
			}

			// The alert's "last error lines" query, as the monitor's tail asks it.
			res, err := svc.Logs(context.Background(), manager.LogQuery{Lines: 5, Filter: "error"})
			if err == nil || strings.Contains(strings.Join(res.Lines, "\n"), "SECRET") || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("alert error lines = %q, %v; want none, refused", res.Lines, err)
			}
		})
	}
}
