package bot

import (
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/manager"
)

// A reply never claims both outcomes: a restart of a stopped service says
// it started it only when a process started, and where the output went
// when the state dir could not take it, once.
func TestOutcomeDetailSaysEachFactOnce(t *testing.T) {
	refused := &manager.PreconditionError{Service: "whatsapp",
		Failed: []doctor.Check{{Name: "port 3000", Detail: "in use by pid 863 (node)"}}}
	readOnly := manager.OutputCapture{Fallback: true, Problem: "read-only file system",
		Path: "/srv/whatsapp/logs/sanasend-output.log"}
	cases := []struct {
		name string
		o    Outcome
		want string
	}{
		{"restart of a stopped service refused",
			Outcome{Action: manager.ActionRestart, Service: "whatsapp", Stop: &manager.StopResult{},
				Start: &manager.StartResult{}, Err: refused},
			"was not running; whatsapp cannot start: port 3000: in use by pid 863 (node)"},
		{"restart of a stopped service, output beside the log",
			Outcome{Action: manager.ActionRestart, Service: "whatsapp", Stop: &manager.StopResult{},
				Start: &manager.StartResult{PID: 42, Healthy: true, TimeToHealthy: 2e9, Output: readOnly}},
			"was not running, started it; the state dir cannot take the service's output (read-only file system): " +
				"it goes to /srv/whatsapp/logs/sanasend-output.log; pid 42 healthy in 2s"},
		{"start, output not captured",
			Outcome{Action: manager.ActionStart, Service: "whatsapp",
				Start: &manager.StartResult{PID: 42, Healthy: true, TimeToHealthy: 2e9,
					Output: manager.OutputCapture{Fallback: true, Problem: "no space left on device"}}},
			"the state dir cannot take the service's output (no space left on device): it is not captured; pid 42 healthy in 2s"},
		{"start in the state dir says nothing of the capture",
			Outcome{Action: manager.ActionStart, Service: "whatsapp",
				Start: &manager.StartResult{PID: 42, Healthy: true, TimeToHealthy: 2e9,
					Output: manager.OutputCapture{Path: "/var/lib/sanasend/whatsapp/output.log"}}},
			"pid 42 healthy in 2s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Err = outcomeError(&o, time.Now())
			if got := OutcomeDetail(&o); got != tc.want {
				t.Errorf("detail = %q\n want %q", got, tc.want)
			}
		})
	}
}

// An action begun changed something; a refused one (busy, already as
// asked, preconditions failed) did not, and gives its alert token back.
func TestBegun(t *testing.T) {
	busy := &manager.BusyError{Service: "whatsapp", Action: manager.ActionRestart}
	cases := []struct {
		name string
		o    Outcome
		want bool
	}{
		{"busy", Outcome{Action: manager.ActionRestart, Stop: &manager.StopResult{}, Start: &manager.StartResult{}, Err: busy}, false},
		{"already stopped", Outcome{Action: manager.ActionStop, Stop: &manager.StopResult{}, Err: manager.AlreadyStopped("whatsapp")}, false},
		{"preconditions failed", Outcome{Action: manager.ActionRestart, Stop: &manager.StopResult{}, Start: &manager.StartResult{},
			Err: &manager.PreconditionError{Service: "whatsapp"}}, false},
		{"stopped, start failed", Outcome{Action: manager.ActionRestart, Stop: &manager.StopResult{WasRunning: true},
			Start: &manager.StartResult{}, Err: &manager.PreconditionError{Service: "whatsapp"}}, true},
		{"leftovers ended", Outcome{Action: manager.ActionStop, Stop: &manager.StopResult{Leftovers: []manager.Process{{PID: 9}}}}, true},
		{"started, exited", Outcome{Action: manager.ActionRestart, Stop: &manager.StopResult{}, Start: &manager.StartResult{PID: 42, Exited: true}}, true},
	}
	for _, tc := range cases {
		if got := begun(&tc.o); got != tc.want {
			t.Errorf("%s: begun = %v; want %v", tc.name, got, tc.want)
		}
	}
}
