package alerts

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/internal/recur"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// RecurringWindow is a maintenance window that recurs: from the config
// (maintenance:) or added by a command (maintenance every ...). While an
// occurrence is open its services are in maintenance (Tracker.Recurring):
// no alert, no reminder, no auto-restart; it is announced when it begins
// and summarised when it ends.
type RecurringWindow struct {
	// ID names the window in commands: "c1", "c2"... for the config's (in
	// its order), "1", "2"... for added ones (not reused by the process
	// that cancelled one; after a restart, the highest saved one plus 1).
	ID string `json:"id"`
	// Every is when it begins (internal/recur: "sun 03:00", "daily 03:00",
	// a 5-field cron expression), in local time.
	Every    string        `json:"every"`
	Duration time.Duration `json:"duration"`
	Reason   string        `json:"reason,omitempty"`
	// Services it mutes; empty: all.
	Services []string `json:"services,omitempty"`
	// Restart restarts each of its services once when an occurrence begins.
	Restart bool `json:"restart,omitempty"`
	// Config is true for a window of the config file: it cannot be
	// cancelled by a command.
	Config bool `json:"config,omitempty"`
	// By and Added are who added it and when; zero for the config's.
	By    manager.Actor `json:"by"`
	Added time.Time     `json:"added,omitempty"`
}

// covers reports whether the window mutes service.
func (r RecurringWindow) covers(service string) bool {
	return len(r.Services) == 0 || slices.Contains(r.Services, service)
}

// MaintenanceActor is who the monitor names when a recurring window
// restarts a service at its start (RecurringWindow.Restart), and who a
// config window's occurrence is "by".
var MaintenanceActor = manager.Actor{ID: "bot", Name: "scheduled maintenance"}

// WindowStore keeps the recurring windows added by commands across bot
// processes. The FileStateStore implements it beside the alert state.
type WindowStore interface {
	// LoadWindows returns the windows saved; none when nothing was saved.
	LoadWindows() ([]RecurringWindow, error)
	// SaveWindows replaces the windows saved with ws.
	SaveWindows(ws []RecurringWindow) error
}

// WindowInfo is a recurring window as `maintenance list` shows it.
type WindowInfo struct {
	RecurringWindow
	// Host is the host whose agent keeps the window, in a fleet (its ID
	// and services are then "host/..."); "" on one host.
	Host string `json:"host,omitempty"`
	// Next is the start of its next occurrence (zero: none within five
	// years); Open is set when an occurrence is open now, Until its end.
	Next  time.Time
	Open  bool
	Until time.Time
}

// recurringWindow is a window with its parsed schedule.
type recurringWindow struct {
	RecurringWindow
	sched recur.Schedule
}

// newRecurring parses w's schedule and checks its duration.
func newRecurring(w RecurringWindow) (recurringWindow, error) {
	s, err := recur.Parse(w.Every)
	if err != nil {
		return recurringWindow{}, err
	}
	if err := s.CheckDuration(w.Duration); err != nil {
		return recurringWindow{}, err
	}
	w.Every = s.String()
	return recurringWindow{RecurringWindow: w, sched: s}, nil
}

// configWindows parses the config's windows and names them c1, c2...
func configWindows(ws []RecurringWindow) ([]recurringWindow, error) {
	var out []recurringWindow
	for i, w := range ws {
		w.ID, w.Config = "c"+strconv.Itoa(i+1), true
		if w.By == (manager.Actor{}) {
			w.By = MaintenanceActor
		}
		r, err := newRecurring(w)
		if err != nil {
			return nil, fmt.Errorf("maintenance window %s: %w", w.ID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// loadWindows reads the added windows from the WindowStore. Those that no
// longer parse are logged and left out.
func (m *Monitor) loadWindows() {
	if m.cfg.WindowStore == nil {
		return
	}
	ws, err := m.cfg.WindowStore.LoadWindows()
	if err != nil {
		m.log.Error().Err(err).Msg("recurring maintenance windows unreadable: only the config's apply")
		return
	}
	m.winMu.Lock()
	defer m.winMu.Unlock()
	for _, w := range ws {
		r, err := newRecurring(w)
		if err != nil {
			m.log.Error().Err(err).Str("window", w.ID).Msg("recurring maintenance window left out")
			continue
		}
		m.added = append(m.added, r)
		if n, err := strconv.Atoi(w.ID); err == nil && n > m.lastAdded {
			m.lastAdded = n
		}
	}
}

// windows returns the config's windows and the added ones.
func (m *Monitor) windows() []recurringWindow {
	m.winMu.Lock()
	defer m.winMu.Unlock()
	return append(slices.Clone(m.cfgWindows), m.added...)
}

// tickRecurring begins the occurrences of recurring windows that are open
// now and have not begun (each once: Tracker.Recurring), and restarts the
// service for a window that says so, unless it was stopped on purpose.
func (m *Monitor) tickRecurring(ctx context.Context, w *watched, now time.Time) {
	for _, r := range m.windows() {
		if !r.covers(w.svc.Name()) {
			continue
		}
		start, open := r.sched.Open(now.In(time.Local), r.Duration)
		if !open {
			continue
		}
		// A service stopped on purpose stays stopped: the window mutes it
		// but does not start it.
		restart := r.Restart && !w.svc.StoppedOnPurpose()
		win := Window{Until: start.Add(r.Duration), By: r.By, Reason: r.Reason, Recurring: r.ID, Every: r.Every, Restart: restart}
		w.mu.Lock()
		ds, began := w.tracker.Recurring(now, win, start)
		m.saveLocked(w) // before the restart: once, even if the bot dies now
		w.mu.Unlock()
		m.act(ctx, w, ds)
		if !began {
			continue
		}
		m.log.Info().Str("service", w.svc.Name()).Str("window", r.ID).Time("until", win.Until).Bool("restart", restart).
			Msg("recurring maintenance began")
		if restart {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				// Reported through the manager's events like any restart:
				// counted into the summary, then the restoration summary.
				if _, err := w.svc.Restart(ctx, MaintenanceActor, nil); err != nil {
					m.log.Error().Err(err).Str("service", w.svc.Name()).Str("window", r.ID).Msg("maintenance restart")
				}
			}()
		}
	}
}

// AddWindow adds a recurring maintenance window for service ("" = every
// service) that begins on every (see internal/recur) and lasts d, and
// saves it. A schedule or duration that will not do is a *usererr.Error
// saying why. The window is in force from the next tick: an occurrence
// open now begins then. ctx is not used: the save does not wait on the
// disk (the front ends' interface has it for an agent's monitor).
func (m *Monitor) AddWindow(_ context.Context, service, every string, d time.Duration, by manager.Actor, reason string) (RecurringWindow, error) {
	w := RecurringWindow{Every: every, Duration: d, Reason: reason, By: by, Added: m.clock.Now()}
	if service != "" {
		if _, err := m.find(service); err != nil {
			return RecurringWindow{}, usererr.New(usererr.NotFound, "%s", err.Error())
		}
		w.Services = []string{service}
	}
	m.winMu.Lock()
	defer m.winMu.Unlock()
	m.lastAdded++
	w.ID = strconv.Itoa(m.lastAdded)
	r, err := newRecurring(w)
	if err != nil {
		m.lastAdded--
		return RecurringWindow{}, usererr.New(usererr.Invalid, "%s", err.Error())
	}
	added := append(slices.Clone(m.added), r)
	if err := m.saveWindowsLocked(added); err != nil {
		m.lastAdded--
		return RecurringWindow{}, err
	}
	m.added = added
	return r.RecurringWindow, nil
}

// CancelWindow removes the added window id and saves the rest; an
// occurrence of it in force ends now, with its summary. A config window
// cannot be cancelled (it lives in the config file), and an unknown ID is
// not found: both are *usererr.Error.
func (m *Monitor) CancelWindow(ctx context.Context, id string, by manager.Actor) (RecurringWindow, error) {
	id = strings.ToLower(id)
	m.winMu.Lock()
	for _, c := range m.cfgWindows {
		if c.ID == id {
			m.winMu.Unlock()
			return RecurringWindow{}, usererr.New(usererr.Conflict,
				"maintenance window %s lives in the config file (maintenance:): change it there", id)
		}
	}
	i := slices.IndexFunc(m.added, func(r recurringWindow) bool { return r.ID == id })
	if i < 0 {
		m.winMu.Unlock()
		return RecurringWindow{}, usererr.New(usererr.NotFound, "no maintenance window %s: `maintenance list` shows them", id)
	}
	gone := m.added[i].RecurringWindow
	rest := slices.Delete(slices.Clone(m.added), i, i+1)
	if err := m.saveWindowsLocked(rest); err != nil {
		m.winMu.Unlock()
		return RecurringWindow{}, err
	}
	m.added = rest
	m.winMu.Unlock()
	for _, w := range m.watched {
		w.mu.Lock()
		var ds []Decision
		if win, on := w.tracker.InMaintenance(m.clock.Now()); on && win.Recurring == id {
			ds = w.tracker.Maintenance(m.clock.Now(), time.Time{}, by, "")
			m.saveLocked(w)
		}
		w.mu.Unlock()
		m.act(ctx, w, ds)
	}
	return gone, nil
}

// saveWindowsLocked saves ws (the added windows); the caller holds winMu.
func (m *Monitor) saveWindowsLocked(ws []recurringWindow) error {
	if m.cfg.WindowStore == nil {
		return nil
	}
	out := make([]RecurringWindow, len(ws))
	for i, r := range ws {
		out[i] = r.RecurringWindow
	}
	if err := m.cfg.WindowStore.SaveWindows(out); err != nil {
		m.log.Error().Err(err).Msg("save recurring maintenance windows")
		return usererr.Wrap(err, usererr.Unavailable, "the maintenance windows could not be saved: nothing changed")
	}
	return nil
}

// Windows lists the recurring windows, the config's first, with their
// next occurrence and whether one is open now. The error is always nil
// here (the front ends' interface has one for a fleet, where an agent may
// not answer).
func (m *Monitor) Windows(context.Context) ([]WindowInfo, error) {
	now := m.clock.Now().In(time.Local)
	var out []WindowInfo
	for _, r := range m.windows() {
		info := WindowInfo{RecurringWindow: r.RecurringWindow, Next: r.sched.Next(now)}
		info.Services = slices.Clone(r.Services)
		if start, open := r.sched.Open(now, r.Duration); open {
			info.Open, info.Until = true, start.Add(r.Duration)
		}
		out = append(out, info)
	}
	return out, nil
}
