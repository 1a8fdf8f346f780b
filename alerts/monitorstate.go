package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The monitor's alert state across bot processes: each tracker is restored
// from MonitorConfig.Store in Start and saved after every input that changed
// it. Without a store, alert state lives in memory only.
//
// What fell due while the bot was down is done once after the restart: a
// reminder of an open, unacknowledged incident goes out at the first tick
// (then every RepeatInterval from there); an auto-restart that was due is
// asked for; a maintenance window that ended is ended with its summary.

// loadStates restores every service's tracker from the store. A state that
// cannot be read is logged at error level and the service starts with fresh
// state: its new incidents still get alert IDs no earlier process used,
// since they carry the incident's start (see alertID).
func (m *Monitor) loadStates() {
	if m.cfg.Store == nil {
		return
	}
	now := m.clock.Now()
	for _, w := range m.watched {
		name := w.svc.Name()
		st, ok, err := m.cfg.Store.LoadAlertState(name)
		if err != nil {
			m.log.Error().Err(err).Str("service", name).Msg("alert state unreadable: starting with fresh alert state")
			continue
		}
		if !ok {
			continue
		}
		// The manager's record of the stop intent is the one the service
		// acts on; it wins over the tracker's.
		st.Stopped = w.svc.StoppedOnPurpose()
		w.mu.Lock()
		w.tracker = RestoreTracker(name, m.cfg.Rules, st, now)
		w.saved, _ = json.Marshal(w.tracker.State())
		w.mu.Unlock()
		ev := m.log.Info().Str("service", name).Int("last_incident", st.LastID)
		if st.Incident != nil {
			ev = ev.Str("open_alert", alertID(name, *st.Incident))
		}
		ev.Bool("maintenance", st.Maintenance != nil).Msg("alert state restored")
	}
}

// saveLocked saves w's tracker state when it changed since the last save.
// The caller holds w.mu. A failed save is logged at error level and tried
// again after the next input; alerting goes on.
func (m *Monitor) saveLocked(w *watched) {
	if m.cfg.Store == nil {
		return
	}
	st := w.tracker.State()
	data, err := json.Marshal(st)
	if err != nil {
		m.log.Error().Err(err).Str("service", w.svc.Name()).Msg("encode alert state")
		return
	}
	if bytes.Equal(data, w.saved) {
		return
	}
	if err := m.cfg.Store.SaveAlertState(w.svc.Name(), st); err != nil {
		m.log.Error().Err(err).Str("service", w.svc.Name()).Msg("save alert state")
		return
	}
	w.saved = data
}

// alertID is the ID of the alert of an incident, which every notice about
// the incident refers to: "<service>-incident-<N>-<start in Unix ns>". N
// continues across bot processes through the StateStore; the start makes
// the ID one no process used before even when the saved state was lost, so
// the outbox's de-duplication can never swallow a new alert.
func alertID(service string, inc Incident) string {
	return fmt.Sprintf("%s-incident-%d-%d", service, inc.ID, inc.Since.UnixNano())
}
