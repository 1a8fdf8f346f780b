package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

const gib = 1 << 30

func memBrowser(id string, pid int32, rss uint64) whatsapp.Browser {
	dir := ""
	if id != "" {
		dir = "/srv/wa/.wwebjs_auth/session-" + id
	}
	return whatsapp.Browser{SessionID: id, UserDataDir: dir, PID: pid, PIDs: []int32{pid, pid + 1, pid + 2}, RSS: rss}
}

func TestMemoryBreach(t *testing.T) {
	a, b, c, d := memBrowser("a", 100, 1*gib), memBrowser("b", 200, 3*gib), memBrowser("c", 300, 2*gib), memBrowser("d", 400, gib/2)
	stray := memBrowser("", 500, 5*gib)
	four := []whatsapp.Browser{a, b, c, d}
	tests := []struct {
		name                string
		rss                 uint64
		browsers            []whatsapp.Browser
		limit, sessionLimit uint64
		want                string // "" = no breach; else session:used>limit top=pids
	}{
		{"no limits", 9 * gib, four, 0, 0, ""},
		{"under both", 6 * gib, four, 7 * gib, 4 * gib, ""},
		{"at the limit is not over", 7 * gib, four, 7 * gib, 3 * gib, ""},
		{"tree over", 7*gib + 1, four, 7 * gib, 0, `"":7516192769>7516192768 top=200,300,100`},
		{"session over", 6 * gib, four, 0, 2*gib + 1, `"b":3221225472>2147483649 top=200,300,100`},
		{"both over: the tree", 8 * gib, four, 7 * gib, 2 * gib, `"":8589934592>7516192768 top=200,300,100`},
		{"stray over the session limit counts in the tree only", 6 * gib, []whatsapp.Browser{a, stray}, 0, 4 * gib, ""},
		{"a session under a stray", 6 * gib, []whatsapp.Browser{stray, b}, 0, 2 * gib, `"b":3221225472>2147483648 top=500,200`},
		{"no browsers, tree over", 7 * gib, nil, 6 * gib, 1 * gib, `"":7516192768>6442450944 top=`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.browsers)
			got := memoryBreach(manager.Status{RSS: tt.rss, Browsers: in}, tt.limit, tt.sessionLimit)
			desc := ""
			if got != nil {
				var pids []string
				for _, b := range got.Top {
					pids = append(pids, strconv.Itoa(int(b.PID)))
				}
				desc = fmt.Sprintf("%q:%d>%d top=%s", got.Session, got.Used, got.Limit, strings.Join(pids, ","))
			}
			if desc != tt.want {
				t.Errorf("breach = %s; want %s", desc, tt.want)
			}
			if !slices.EqualFunc(in, tt.browsers, func(x, y whatsapp.Browser) bool { return x.PID == y.PID }) {
				t.Errorf("the status's browsers were reordered")
			}
			if got != nil && len(got.Top) > 0 && len(in) > 0 {
				got.Top[0].PIDs[0] = -1
				for _, b := range in {
					if b.PIDs[0] == -1 {
						t.Errorf("the breach shares its browsers with the status")
					}
				}
			}
		})
	}
}

func trackerMem(session string, used, limit uint64) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision {
		return tr.HealthMemory(now, manager.StateHealthy, "", 0, &MemoryBreach{Limit: limit, Used: used, Session: session,
			Top: []whatsapp.Browser{memBrowser("b", 200, used)}})
	}
}

func trackerMemBad(reason string, used, limit uint64) trackerInput {
	return func(tr *Tracker, now time.Time) []Decision {
		return tr.HealthMemory(now, manager.StateUnhealthy, reason, 0, &MemoryBreach{Limit: limit, Used: used})
	}
}

// TestTrackerMemory: a healthy service over a memory limit alerts like a
// failed check (unhealthy, no reason, the breach as the cause), with the
// same thresholds, reminders and auto-restart, and resolves under the
// limit again.
func TestTrackerMemory(t *testing.T) {
	noMemory := func(t *testing.T, ds []Decision, snap Incident) {
		t.Helper()
		if snap.Memory != nil {
			t.Errorf("incident memory = %+v; want none", snap.Memory)
		}
	}
	for _, tc := range []trackerCase{
		{name: "over the limit alerts at the threshold and resolves under it", steps: []trackerStep{
			{at: 0, in: trackerMem("", 7*gib, 6*gib)},
			{at: 30 * time.Second, in: trackerMem("", 7*gib, 6*gib), want: []string{`open: failing state=unhealthy since=+0s failures=2 memory="":7516192768>6442450944`},
				check: func(t *testing.T, ds []Decision, snap Incident) {
					if m := snap.Memory; m == nil || m.Used != 7*gib || len(m.Top) != 1 || ds[0].Incident.Memory == nil {
						t.Errorf("incident memory = %+v", m)
					}
				}},
			{at: 31 * time.Minute, in: trackerTick(), want: []string{`remind: reminder state=unhealthy since=+0s lasted=31m0s memory="":7516192768>6442450944`}},
			{at: 32 * time.Minute, in: trackerOK(0), want: []string{"resolve: healed lasted=32m0s"}},
		}},
		{name: "one over is a blip under the threshold", steps: []trackerStep{
			{at: 0, in: trackerMem("b", 3*gib, 2*gib)},
			{at: 30 * time.Second, in: trackerOK(0)},
			{at: time.Minute, in: trackerMem("b", 3*gib, 2*gib), check: noMemory},
		}},
		{name: "the cause changes from memory to health and back", steps: []trackerStep{
			{at: 0, in: trackerMem("b", 3*gib, 2*gib)},
			{at: 30 * time.Second, in: trackerMem("b", 3*gib, 2*gib), want: []string{`open: failing state=unhealthy since=+0s failures=2 memory="b":3221225472>2147483648`}},
			{at: time.Minute, in: trackerBad("HTTP 503"), want: []string{`update: state_changed state=unhealthy reason="HTTP 503"`}, check: noMemory},
			{at: 90 * time.Second, in: trackerMem("b", 3*gib, 2*gib), want: []string{`update: state_changed state=unhealthy memory="b":3221225472>2147483648`}},
			{at: 2 * time.Minute, in: trackerMem("b", 3*gib, 2*gib)},
			{at: 150 * time.Second, in: trackerDown(), want: []string{`update: state_changed state=stopped reason="connection refused"`}, check: noMemory},
		}},
		{name: "failing health and over the limit keeps the state and reason", steps: []trackerStep{
			{at: 0, in: trackerMemBad("HTTP 503", 7*gib, 6*gib)},
			{at: 30 * time.Second, in: trackerMemBad("HTTP 503", 7*gib, 6*gib),
				want: []string{`open: failing state=unhealthy reason="HTTP 503" since=+0s failures=2 memory="":7516192768>6442450944`}},
		}},
		{name: "auto-restart applies", rules: trackerWith(func(r *Rules) {
			r.AutoRestart, r.AutoRestartBackoff, r.AutoRestartMax = true, 10*time.Second, 3
		}), steps: []trackerStep{
			{at: 0, in: trackerMem("", 7*gib, 6*gib)},
			{at: 30 * time.Second, in: trackerMem("", 7*gib, 6*gib), want: []string{"open"}},
			{at: 45 * time.Second, in: trackerTick(), want: []string{"auto_restart: auto_restart attempt=1/3 waited=10s"}},
		}},
		{name: "an exit clears the memory cause", steps: []trackerStep{
			{at: 0, in: trackerMem("", 7*gib, 6*gib)},
			{at: 30 * time.Second, in: trackerMem("", 7*gib, 6*gib), want: []string{"open"}},
			{at: time.Minute, in: trackerExit(137, ""), want: []string{"update"}, check: noMemory},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { trackerRun(t, tc) })
	}
}

// TestTrackerMemorySurvivesRestart: the breach of an open incident is in
// the saved state, so a new bot process still knows why it is open.
func TestTrackerMemorySurvivesRestart(t *testing.T) {
	tr := NewTracker("whatsapp", trackerRules, false, trackerT0)
	trackerMem("b", 3*gib, 2*gib)(tr, trackerT0)
	trackerMem("b", 3*gib, 2*gib)(tr, trackerT0.Add(30*time.Second))
	data, err := json.Marshal(tr.State())
	if err != nil {
		t.Fatal(err)
	}
	var st TrackerState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	got := RestoreTracker("whatsapp", trackerRules, st, trackerT0.Add(time.Minute)).Snapshot()
	if m := got.Memory; m == nil || m.Session != "b" || m.Used != 3*gib || m.Limit != 2*gib || len(m.Top) != 1 || m.Top[0].PID != 200 {
		t.Errorf("restored incident memory = %+v", m)
	}
}

// TestMonitorMemoryLimit: with memory limits set, each check asks the
// Status; a healthy service over a limit alerts after the failure
// threshold with the breach and the heaviest browsers, and resolves when
// it is under again.
func TestMonitorMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name                string
		limit, sessionLimit uint64
		session             string
	}{
		{"whole tree", 6 * gib, 0, ""},
		{"one session", 0, 2 * gib, "user_31_instance_support"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := newMonitorService()
			browsers := []whatsapp.Browser{memBrowser("user_12_instance_main", 100, gib), memBrowser("user_31_instance_support", 300, 3*gib),
				memBrowser("user_18_instance_sales", 200, 2*gib), memBrowser("user_45_instance_promo", 400, gib/2)}
			svc.setStatus(manager.Status{RSS: 7 * gib, Browsers: browsers})
			_, rec, clock := startMonitorWith(t, svc, func(c *MonitorConfig) {
				c.Rules = Rules{FailureThreshold: 2, SuccessThreshold: 1}
				c.MemoryLimit, c.SessionMemoryLimit = tc.limit, tc.sessionLimit
			})
			statuses := func() int {
				svc.mu.Lock()
				defer svc.mu.Unlock()
				return svc.statuses
			}
			waitCond(t, "the first check", func() bool { return statuses() == 1 })
			advance := func() {
				t.Helper()
				n := statuses()
				if err := clock.BlockUntilContext(context.Background(), 2); err != nil {
					t.Fatal(err)
				}
				clock.Advance(30 * time.Second)
				waitCond(t, "the next check", func() bool { return statuses() > n })
			}
			advance()
			waitCond(t, "the alert", func() bool { return len(rec.kinds()) > 0 })
			n := rec.notices[0]
			m := n.Event.Memory
			if n.Kind != DecisionOpen || n.Event.State != manager.StateUnhealthy || n.Event.Reason != "" || m == nil ||
				n.Incident == nil || n.Incident.Memory == nil {
				t.Fatalf("notice = %+v; want an alert with a memory breach", n)
			}
			want := MemoryBreach{Limit: tc.limit, Used: 7 * gib, Session: tc.session}
			if tc.session != "" {
				want.Limit, want.Used = tc.sessionLimit, 3*gib
			}
			var top []string
			for _, b := range m.Top {
				top = append(top, b.SessionID)
			}
			if m.Limit != want.Limit || m.Used != want.Used || m.Session != want.Session ||
				strings.Join(top, ",") != "user_31_instance_support,user_18_instance_sales,user_12_instance_main" {
				t.Errorf("breach = %+v (top %v); want %+v with the 3 heaviest", m, top, want)
			}
			if c, st := svc.Checks(), statuses(); c != st {
				t.Errorf("%d Health calls, %d Status calls; want one of each a check", c, st)
			}
			// Under the limits again: resolved at the next check.
			svc.setStatus(manager.Status{RSS: 3 * gib, Browsers: browsers[:1]})
			advance()
			waitCond(t, "the resolution", func() bool { return strings.Contains(strings.Join(rec.kinds(), ","), "resolve") })
			if got := strings.Join(rec.kinds(), ","); got != "open,resolve" {
				t.Errorf("notices = %s; want open,resolve", got)
			}
		})
	}
}
