package alerts

import (
	"maps"
	"time"

	"github.com/sanasend/sanasend-bot/manager"
)

// TrackerState is everything a Tracker knows, as plain JSON-serialisable
// data, so that alert state survives the bot: the open incident (with its
// acknowledgement, failures, auto-restart count and next auto-restart), the
// last incident ID, when the next reminder counts from, the maintenance
// window and what happened during it, the auto-restart backoff and attempts,
// the stop intent, and the consecutive checks in progress.
//
// An action through the bot that was running is not part of it: the process
// that ran it is gone, and its end will never be reported, so a restored
// tracker starts with no action in flight.
type TrackerState struct {
	// LastID is the ID of the service's latest incident; the next one is
	// LastID+1.
	LastID int `json:"last_id"`
	// Incident is the open incident; nil when there is none.
	Incident *Incident `json:"incident,omitempty"`
	// RemindFrom is when the time to the next reminder counts from.
	RemindFrom time.Time `json:"remind_from"`
	// Stopped is the intent: stopped through the bot, quiet until started.
	Stopped bool `json:"stopped,omitempty"`

	// The consecutive checks in progress and the latest state seen.
	Failures     int           `json:"failures,omitempty"`
	Successes    int           `json:"successes,omitempty"`
	FirstFailure time.Time     `json:"first_failure,omitempty"`
	LastState    manager.State `json:"last_state,omitempty"`
	// Resolver is credited when health resolves the incident after a slow
	// start or restart through the bot.
	Resolver *manager.Actor `json:"resolver,omitempty"`

	// Started is the start of the service its healthy checks showed, the
	// baseline for restarts outside the bot; ExternalLast and ExternalHeld
	// are the rate limit of their notices.
	Started      time.Time `json:"started,omitempty"`
	ExternalLast time.Time `json:"external_last,omitempty"`
	ExternalHeld int       `json:"external_held,omitempty"`

	// AutoDelay is the wait before the next auto-restart; AutoAttempts the
	// auto-restarts asked for within the last hour.
	AutoDelay    time.Duration `json:"auto_delay,omitempty"`
	AutoAttempts []time.Time   `json:"auto_attempts,omitempty"`

	// Maintenance is the maintenance window in force; nil when none.
	Maintenance *MaintenanceState `json:"maintenance,omitempty"`
	// Occurrences maps a recurring window's ID to the start of its latest
	// occurrence begun (Tracker.Recurring): a restarted bot neither begins
	// it again nor restarts the service again.
	Occurrences map[string]time.Time `json:"occurrences,omitempty"`
}

// MaintenanceState is a maintenance window in force and what happened
// during it so far.
type MaintenanceState struct {
	Window  Window             `json:"window"`
	Summary MaintenanceSummary `json:"summary"`
	// DownSince is when the service went down during the window; zero
	// while it is up.
	DownSince time.Time `json:"down_since,omitempty"`
}

// State returns a copy of the tracker's state: RestoreTracker(…, t.State(),
// …) makes the same decisions as t for the same next inputs, except that an
// action through the bot that is running is left out (see TrackerState).
func (t *Tracker) State() TrackerState {
	st := TrackerState{
		LastID:       t.lastID,
		RemindFrom:   t.remindFrom,
		Stopped:      t.stopped,
		Failures:     t.failures,
		Successes:    t.successes,
		FirstFailure: t.firstFailure,
		LastState:    t.lastState,
		Started:      t.started,
		ExternalLast: t.extLast,
		ExternalHeld: t.extHeld,
		AutoDelay:    t.autoDelay,
		AutoAttempts: append([]time.Time(nil), t.autoAttempts...),
		Occurrences:  maps.Clone(t.occurrences),
	}
	if t.inc.Open {
		inc := trackerClone(t.inc)
		st.Incident = &inc
	}
	if t.resolver != nil {
		r := *t.resolver
		st.Resolver = &r
	}
	if t.maint.on {
		sum := t.maint.sum
		sum.Actions = append([]ActionCount(nil), sum.Actions...)
		st.Maintenance = &MaintenanceState{Window: t.maint.window, Summary: sum, DownSince: t.maint.downSince}
	}
	return st
}

// RestoreTracker returns the tracker of one service in state st (from
// State, possibly saved and loaded by a StateStore), under rules r, which
// may differ from the rules st was made under. now is when the restored
// tracker starts observing: it only fills in what st leaves unset. What
// fell due while nobody watched (a reminder, an auto-restart, the end of a
// maintenance window) is done once, by the first input after now.
func RestoreTracker(service string, r Rules, st TrackerState, now time.Time) *Tracker {
	t := NewTracker(service, r, st.Stopped, now)
	t.lastID = st.LastID
	if !st.RemindFrom.IsZero() {
		t.remindFrom = st.RemindFrom
	}
	t.failures, t.successes, t.firstFailure = st.Failures, st.Successes, st.FirstFailure
	t.lastState = st.LastState
	if st.Resolver != nil {
		a := *st.Resolver
		t.resolver = &a
	}
	t.started, t.extLast, t.extHeld = st.Started, st.ExternalLast, st.ExternalHeld
	if st.AutoDelay > 0 {
		t.autoDelay = st.AutoDelay
	}
	t.autoAttempts = append([]time.Time(nil), st.AutoAttempts...)
	t.occurrences = maps.Clone(st.Occurrences)
	if st.Incident != nil && st.Incident.Open {
		t.inc = trackerClone(*st.Incident)
		t.inc.Service = service
		if t.inc.ID > t.lastID {
			t.lastID = t.inc.ID
		}
	}
	if m := st.Maintenance; m != nil {
		sum := m.Summary
		sum.Actions = append([]ActionCount(nil), sum.Actions...)
		t.maint = trackerMaint{on: true, window: m.Window, sum: sum, downSince: m.DownSince}
	}
	return t
}
