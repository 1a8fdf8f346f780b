package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

func TestLogsSummary(t *testing.T) {
	tests := []struct {
		name string
		l    manager.LogResult
		q    manager.LogQuery
		want string
	}{
		{"filter, whole file, 2 of 44", manager.LogResult{Lines: make([]string, 2), Searched: 44, Exhausted: true},
			manager.LogQuery{Lines: 50, Filter: "QR"}, `2 of 44 lines match "QR" (the whole log)`},
		{"filter, whole file, 1 of 44", manager.LogResult{Lines: make([]string, 1), Searched: 44, Exhausted: true},
			manager.LogQuery{Lines: 50, Filter: "QR"}, `1 of 44 lines matches "QR" (the whole log)`},
		{"filter, no match", manager.LogResult{Searched: 44, Exhausted: true},
			manager.LogQuery{Lines: 5, Filter: "abc"}, `none of the 44 lines matches "abc" (the whole log)`},
		{"filter, scan limit", manager.LogResult{Lines: make([]string, 3), Searched: 9000, ScanLimit: true, Scanned: 256 << 20},
			manager.LogQuery{Lines: 50, Filter: "x"}, `3 of 9000 lines match "x" (the last 256.0 MiB of the log only)`},
		{"filter, enough found", manager.LogResult{Lines: make([]string, 50), Searched: 800},
			manager.LogQuery{Lines: 50, Filter: "QR"}, `the last 50 lines matching "QR", found among the last 800`},
		{"all of a short log", manager.LogResult{Lines: make([]string, 44), Searched: 44, Exhausted: true},
			manager.LogQuery{Lines: 50}, `all 44 lines (the whole log)`},
		{"health hidden, whole log", manager.LogResult{Lines: make([]string, 30), Searched: 44, Exhausted: true},
			manager.LogQuery{Lines: 50}, `30 of 44 lines (the whole log; 14 health checks hidden)`},
		{"the last lines", manager.LogResult{Lines: make([]string, 50), Searched: 50},
			manager.LogQuery{Lines: 50}, `the last 50 lines`},
		{"the last lines among health checks", manager.LogResult{Lines: make([]string, 50), Searched: 80},
			manager.LogQuery{Lines: 50}, `the last 50 lines, found among the last 80 (30 health checks hidden)`},
		{"empty log", manager.LogResult{Exhausted: true}, manager.LogQuery{Lines: 50}, `the log is empty`},
		{"no count from the service", manager.LogResult{Lines: make([]string, 3), Exhausted: true},
			manager.LogQuery{Lines: 50}, `all 3 lines (the whole log)`},
	}
	for _, tc := range tests {
		if got := LogsSummary(&tc.l, tc.q); got != tc.want {
			t.Errorf("%s: LogsSummary = %q; want %q", tc.name, got, tc.want)
		}
	}
}

func TestRestorationRunNote(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 10, 0, 0, time.UTC)
	started := now.Add(-time.Minute)
	r := &whatsapp.Restoration{StartedAt: started.Add(-time.Hour)}
	if got := RestorationRunNote(&manager.Status{Since: started, Restoration: r}, now); !strings.Contains(got, "previous run") || !strings.Contains(got, "03:09:00") {
		t.Errorf("restoration of an earlier run: note %q; want it to say previous run and 03:09:00", got)
	}
	r = &whatsapp.Restoration{StartedAt: started.Add(5 * time.Second)}
	if got := RestorationRunNote(&manager.Status{Since: started, Restoration: r}, now); got != "" {
		t.Errorf("restoration of this run: note %q; want none", got)
	}
	if got := RestorationRunNote(&manager.Status{State: manager.StateStopped, Restoration: r}, now); !strings.Contains(got, "last run") {
		t.Errorf("stopped service: note %q; want it to say the last run", got)
	}
	if got := RestorationRunNote(&manager.Status{State: manager.StateStopped}, now); got != "" {
		t.Errorf("stopped service without a restoration: note %q; want none", got)
	}
}

func TestMaintenanceLine(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 10, 0, 0, time.UTC)
	w := &MaintenanceWindow{Until: now.Add(30 * time.Minute), By: manager.Actor{ID: "U0ALICE", Name: "alice"}, Reason: "deploy"}
	if got, want := MaintenanceLine(w, now), "alerts muted until 03:40:00 (30m left) by alice: deploy"; got != want {
		t.Errorf("MaintenanceLine = %q; want %q", got, want)
	}
}

func TestDoctorSummary(t *testing.T) {
	checks := []doctor.Check{{Verdict: doctor.VerdictOK}, {Verdict: doctor.VerdictWarn}, {Verdict: doctor.VerdictFail}, {Verdict: doctor.VerdictFail}}
	if got, want := DoctorSummary(checks), "1 ok, 1 warning, 2 failed"; got != want {
		t.Errorf("DoctorSummary = %q; want %q", got, want)
	}
}
