package alerts

import (
	"time"

	"github.com/sanasend/sanasend-bot/manager"
)

// Rules are the alert rules of one service (SPEC.md section 5, the monitor.*
// keys). Their semantics follow gatus: an alert after FailureThreshold
// consecutive failed checks, "resolved" after SuccessThreshold consecutive
// healthy ones, a reminder every RepeatInterval until acknowledged.
type Rules struct {
	// FailureThreshold is the number of consecutive failed health checks
	// before an alert; below 1 counts as 1. An unexpected exit alerts at once.
	FailureThreshold int
	// SuccessThreshold is the number of consecutive healthy checks that
	// resolve an open incident; below 1 counts as 1.
	SuccessThreshold int
	// RepeatInterval is the time between reminders of an open, unacknowledged
	// incident; 0 means no reminders.
	RepeatInterval time.Duration
	// AutoRestart turns on self-healing: after an alert the tracker asks for
	// restarts with exponential backoff, at most AutoRestartMax in any
	// sliding hour, then gives up.
	AutoRestart bool
	// AutoRestartMax is the most auto-restarts in any sliding hour; below 1
	// counts as 3.
	AutoRestartMax int
	// AutoRestartBackoff is the wait before the first auto-restart of an
	// incident; it doubles after each failed one. 0 or less counts as 30s.
	AutoRestartBackoff time.Duration
}

// trackerNormal returns r with the documented defaults filled in. The config
// layer validates; the tracker only refuses to misbehave on zero values.
func (r Rules) trackerNormal() Rules {
	if r.FailureThreshold < 1 {
		r.FailureThreshold = 1
	}
	if r.SuccessThreshold < 1 {
		r.SuccessThreshold = 1
	}
	if r.RepeatInterval < 0 {
		r.RepeatInterval = 0
	}
	if r.AutoRestartMax < 1 {
		r.AutoRestartMax = 3
	}
	if r.AutoRestartBackoff <= 0 {
		r.AutoRestartBackoff = 30 * time.Second
	}
	return r
}

// AutoRestartActor is who the monitor names in ActionBegun and ActionEnded
// when it carries out an auto_restart decision. The tracker recognises it by
// its ID.
var AutoRestartActor = manager.Actor{ID: "bot", Name: "auto-restart"}

// trackerUptimeSlack is how far the service's reported uptime may fall behind
// the expected value (last uptime + time since) before the tracker concludes
// that the service restarted: it absorbs request latency and clock jitter.
const trackerUptimeSlack = 5 * time.Second

// Ack records who acknowledged an incident and when.
type Ack struct {
	By manager.Actor
	At time.Time
}

// Incident is one outage of one service, from the alert to its resolution.
// Every Decision carries a full copy, so a renderer needs nothing else.
type Incident struct {
	Service string
	// ID increases per service from 1; 0 means "no incident".
	ID   int
	Open bool
	// State and Reason are the latest seen: "stopped", "connection refused".
	State  manager.State
	Reason string
	// Since is the first failed check (or the exit) of the outage.
	Since time.Time
	// Failures counts the failed checks of the outage, those before the
	// alert included.
	Failures int
	Acked    *Ack
	// Exit is how the service's root process ended when it exited
	// unexpectedly during the outage; nil otherwise. It is the cause: Reason
	// is then the health check's view of the consequence.
	Exit *Exit
	// Updates counts the update decisions posted in the alert's thread.
	Updates    int
	ResolvedAt time.Time
	// ResolvedBy is whoever's start or restart through the bot (or stop,
	// which closes the incident on purpose) ended the outage; nil when it
	// healed by itself.
	ResolvedBy *manager.Actor
	// AutoRestarts counts the auto-restarts asked for during the outage.
	AutoRestarts int
	// NextAutoRestart is when the next auto-restart is due; zero when none
	// is planned (off, in flight, given up, or resolved).
	NextAutoRestart time.Time
	// GaveUp is set once auto-restart has given up on this incident.
	GaveUp bool
	// Memory is the memory limit crossed at the latest failed check, when
	// that is why the check failed (see Tracker.Health); nil otherwise.
	Memory *MemoryBreach `json:",omitempty"`
}

// Lasted is how long the incident lasted: until ResolvedAt when resolved,
// until now otherwise.
func (i Incident) Lasted(now time.Time) time.Duration {
	if !i.ResolvedAt.IsZero() {
		return i.ResolvedAt.Sub(i.Since)
	}
	return now.Sub(i.Since)
}

// trackerClone returns i with its pointers copied, so a Decision never
// changes after it was returned.
func trackerClone(i Incident) Incident {
	if i.Acked != nil {
		a := *i.Acked
		i.Acked = &a
	}
	if i.ResolvedBy != nil {
		b := *i.ResolvedBy
		i.ResolvedBy = &b
	}
	if i.Exit != nil {
		e := *i.Exit
		i.Exit = &e
	}
	i.Memory = i.Memory.clone()
	return i
}

// DecisionKind says what the monitor must do with a Decision.
type DecisionKind string

const (
	// DecisionOpen: post a new alert (and remember its message for the thread).
	DecisionOpen DecisionKind = "open"
	// DecisionUpdate: post the Event in the alert's thread and edit the
	// alert to show the Incident as it is now.
	DecisionUpdate DecisionKind = "update"
	// DecisionResolve: post the Event in the thread and edit the alert to
	// resolved.
	DecisionResolve DecisionKind = "resolve"
	// DecisionRemind: the incident is still open and nobody acknowledged it.
	DecisionRemind DecisionKind = "remind"
	// DecisionAnnounce: a line in the channel that is not about an alert
	// (intended actions, external restarts, maintenance).
	DecisionAnnounce DecisionKind = "announce"
	// DecisionAutoRestart: restart the service now, as AutoRestartActor, and
	// report it through ActionBegun and ActionEnded. The Event announces it.
	DecisionAutoRestart DecisionKind = "auto_restart"
	// DecisionGiveUp: auto-restart stops trying for this incident; say so
	// loudly.
	DecisionGiveUp DecisionKind = "give_up"
	// KindRestoration and KindDigest are the kinds of the monitor's notices
	// that come from no tracker decision.
	KindRestoration DecisionKind = "restoration"
	KindDigest      DecisionKind = "digest"
)

// Decision is one thing to do now.
type Decision struct {
	Kind DecisionKind
	// Incident is the service's incident after this decision; for an
	// announce without an incident only Service is set.
	Incident Incident
	// Event is what happened, with its figures: the front ends word it.
	Event Event
}

// Tracker applies the alert rules to one service. It is a pure state
// machine: no I/O, no goroutines, no clock; time comes with every input and
// each input returns what to do now. It is not safe for concurrent use: the
// monitor feeds it from one goroutine.
type Tracker struct {
	service string
	rules   Rules

	// stopped is the intent: the service was stopped through the bot and
	// stays quiet until started.
	stopped bool
	action  *trackerAction

	// Consecutive checks outside actions, intent and maintenance.
	failures     int
	successes    int
	firstFailure time.Time
	lastState    manager.State // "" before the first check

	// started is the latest start of the service its healthy checks showed
	// (check time minus uptime); zero when unknown or invalidated by a
	// failure, an exit or an action. A start later than it is a restart
	// outside the bot; an earlier one (an uptime that flips between two
	// values) is not a new restart.
	started time.Time
	// extLast is when the last external restart was reported; extHeld
	// counts those held back since by the rate limit.
	extLast time.Time
	extHeld int

	inc        Incident // the open incident, valid when inc.Open
	lastID     int
	remindFrom time.Time
	// resolver is credited when health resolves an incident right after a
	// start or restart through the bot that ended without success (slow to
	// become healthy), with no failed check in between.
	resolver *manager.Actor

	autoDelay    time.Duration // wait before the next auto-restart
	autoAttempts []time.Time   // auto-restarts asked for, within the last hour

	maint trackerMaint
	// occurrences maps a recurring window's ID to the start of its latest
	// occurrence begun, so each begins (and restarts the service) once.
	occurrences map[string]time.Time
}

type trackerAction struct {
	action manager.Action
	by     manager.Actor
	since  time.Time
}

// trackerMaint is a maintenance window and what happened during it.
type trackerMaint struct {
	on        bool
	window    Window
	sum       MaintenanceSummary
	downSince time.Time
}

// trackerExternalEvery is the least time between two notices of a restart
// outside the bot: more restarts within it are counted into the next one.
const trackerExternalEvery = 5 * time.Minute

// NewTracker returns the tracker of one service. stoppedOnPurpose is the
// intent recorded in the state dir: true when the last action through the
// bot was a stop, so the service stays quiet until started. now is when the
// tracker starts observing.
func NewTracker(service string, r Rules, stoppedOnPurpose bool, now time.Time) *Tracker {
	r = r.trackerNormal()
	return &Tracker{
		service:    service,
		rules:      r,
		stopped:    stoppedOnPurpose,
		autoDelay:  r.AutoRestartBackoff,
		remindFrom: now,
	}
}

// Snapshot returns the open incident, or an Incident with only Service set
// (ID 0, Open false) when there is none.
func (t *Tracker) Snapshot() Incident {
	if !t.inc.Open {
		return Incident{Service: t.service}
	}
	return trackerClone(t.inc)
}

// Health takes one health check: state and reason as manager.Health gives
// them, uptime the service's own uptime from /health (0 when unknown).
func (t *Tracker) Health(now time.Time, state manager.State, reason string, uptime time.Duration) []Decision {
	return t.HealthMemory(now, state, reason, uptime, nil)
}

// HealthMemory is Health with the memory limit the check found crossed
// (nil: none, or no limit set).
//
// A service over a memory limit fails the check even when it answers
// healthy: it serves, but it is on its way to the OOM killer, and someone
// must act. Its state is then unhealthy (the state between healthy and
// stopped) with Reason "" and the breach as the cause: Incident.Memory and
// Event.Memory. Every rule of a failed check applies: the failure
// threshold, reminders, auto-restart, and resolution after the success
// threshold of checks that are healthy and under the limits. A service
// that fails its health check and is over a limit too keeps its state and
// reason, with the breach added. An open incident whose cause changes
// from memory to health or back is updated (EventStateChanged).
func (t *Tracker) HealthMemory(now time.Time, state manager.State, reason string, uptime time.Duration, memory *MemoryBreach) []Decision {
	ds := t.trackerExpire(now)
	if state == manager.StateHealthy && memory == nil {
		return append(ds, t.trackerHealthy(now, uptime)...)
	}
	if state == manager.StateHealthy {
		state, reason = manager.StateUnhealthy, ""
	}
	return append(ds, t.trackerFailing(now, state, reason, memory)...)
}

func (t *Tracker) trackerHealthy(now time.Time, uptime time.Duration) []Decision {
	var ds []Decision
	t.lastState = manager.StateHealthy
	t.failures, t.firstFailure = 0, time.Time{}
	if t.maint.on {
		t.maint.trackerUp(now)
	}
	if t.action != nil {
		// The action's outcome is the truth while it runs: ActionEnded decides.
		t.started = time.Time{}
		return nil
	}

	if uptime > 0 {
		started := now.Add(-uptime)
		if !t.started.IsZero() && started.After(t.started.Add(trackerUptimeSlack)) {
			ds = append(ds, t.trackerExternal(now, uptime, now.Sub(t.started))...)
		}
		if started.After(t.started) {
			t.started = started
		}
	} else {
		t.started = time.Time{}
	}

	if t.stopped {
		t.stopped = false
		if !t.maint.on {
			ds = append(ds, t.trackerDecision(DecisionAnnounce, Event{What: EventBackAfterStop}))
		}
	}

	if !t.inc.Open {
		return ds
	}
	t.successes++
	if t.successes < t.rules.SuccessThreshold {
		return ds
	}
	return append(ds, t.trackerResolve(now, t.resolver, Event{What: EventHealed, By: t.resolver}))
}

// RestartedOutside takes a restart of the service by its controller
// (systemd, PM2) outside the bot at now: its main process exited (exit)
// while the controller was already starting it again (the manager's
// EventExited with RestartedBy). It is reported as a restart outside the
// bot, once (the uptime that goes back at the next check is this restart,
// not another), and is not an outage: if the new run fails, its checks
// alert.
func (t *Tracker) RestartedOutside(now time.Time, by manager.ControllerKind, exit Exit) []Decision {
	ds := t.trackerExpire(now)
	if t.action != nil || t.stopped {
		return ds
	}
	t.started = time.Time{} // the next healthy check learns the new run's start
	e := Event{What: EventExternalRestart, Controller: by}
	if exit.Known {
		e.Exit = &exit
	}
	return append(ds, t.trackerExternalEvent(now, e)...)
}

// trackerExternal takes one restart outside the bot: one notice per
// trackerExternalEvery at most (the restarts held back are counted into the
// next), in the open incident's thread when there is one, counted into the
// summary during maintenance.
func (t *Tracker) trackerExternal(now time.Time, uptime, expected time.Duration) []Decision {
	return t.trackerExternalEvent(now, Event{What: EventExternalRestart, Uptime: uptime, Expected: expected})
}

// trackerExternalEvent is trackerExternal for the notice e.
func (t *Tracker) trackerExternalEvent(now time.Time, e Event) []Decision {
	if t.maint.on {
		t.maint.sum.External++
		return nil
	}
	if !t.extLast.IsZero() && now.Sub(t.extLast) < trackerExternalEvery {
		t.extHeld++
		return nil
	}
	e.Count = 1 + t.extHeld
	t.extLast, t.extHeld = now, 0
	if t.inc.Open {
		return []Decision{t.trackerUpdate(e)}
	}
	return []Decision{t.trackerDecision(DecisionAnnounce, e)}
}

func (t *Tracker) trackerFailing(now time.Time, state manager.State, reason string, memory *MemoryBreach) []Decision {
	if state == "" {
		state = manager.StateUnhealthy
	}
	healthyBefore := t.successes
	t.successes = 0
	t.started = time.Time{}
	t.resolver = nil // a failure since: the restart did not do it
	t.lastState = state
	if t.maint.on {
		t.maint.trackerDown(now)
	}
	if t.action != nil || t.stopped {
		return nil // intent, not an outage
	}
	if t.maint.on {
		// Muted: counted for the summary; thresholds start again at its end.
		t.maint.sum.Failures++
		if t.inc.Open {
			t.inc.Failures++
			t.inc.State, t.inc.Reason, t.inc.Memory = state, reason, memory.clone()
		}
		return nil
	}

	if t.failures == 0 {
		t.firstFailure = now
	}
	t.failures++
	if t.inc.Open {
		t.inc.Failures++
		t.inc.Reason = reason
		causeChanged := (t.inc.Memory == nil) != (memory == nil)
		t.inc.Memory = memory.clone()
		switch {
		case t.inc.State != state || causeChanged:
			t.inc.State = state
			return []Decision{t.trackerUpdate(Event{What: EventStateChanged, State: state, Reason: reason, Memory: memory.clone()})}
		case healthyBefore > 0:
			return []Decision{t.trackerUpdate(Event{What: EventFailingAgain, State: state, Reason: reason, Healthy: healthyBefore,
				Memory: memory.clone()})}
		}
		return nil
	}
	if t.failures < t.rules.FailureThreshold {
		return nil
	}
	return t.trackerOpen(now, Incident{State: state, Reason: reason, Since: t.firstFailure, Failures: t.failures, Memory: memory.clone()},
		Event{What: EventFailing, State: state, Reason: reason, Since: t.firstFailure, Failures: t.failures, Memory: memory.clone()})
}

// Exited takes the unexpected exit of the service at now (the
// manager's EventExited with Intended false). It is a fact, not a blip: it
// alerts at once, whatever the thresholds, unless an action through the bot
// runs or the service was stopped on purpose.
func (t *Tracker) Exited(now time.Time, exit Exit) []Decision {
	ds := t.trackerExpire(now)
	if t.action != nil || t.stopped {
		return ds
	}
	t.started = time.Time{}
	t.successes = 0
	t.resolver = nil
	t.lastState = manager.StateStopped
	if t.maint.on {
		t.maint.sum.Exits++
		t.maint.trackerDown(now)
		if t.inc.Open {
			t.inc.State, t.inc.Reason, t.inc.Exit, t.inc.Memory = manager.StateStopped, "", &exit, nil
		}
		return ds
	}
	if t.failures == 0 {
		t.firstFailure = now
	}
	t.failures++
	e := Event{What: EventExited, State: manager.StateStopped, Exit: &exit, Since: t.firstFailure, Failures: t.failures}
	if t.inc.Open {
		t.inc.State, t.inc.Reason, t.inc.Exit, t.inc.Memory = manager.StateStopped, "", &exit, nil
		return append(ds, t.trackerUpdate(e))
	}
	return append(ds, t.trackerOpen(now, Incident{
		State: manager.StateStopped, Since: t.firstFailure, Failures: t.failures, Exit: &exit,
	}, e)...)
}

// ActionBegun takes the start of an action through the bot. A stop records
// the intent; a start or restart clears it. Checks and exits while it runs
// raise nothing.
func (t *Tracker) ActionBegun(now time.Time, a manager.Action, by manager.Actor) []Decision {
	ds := t.trackerExpire(now)
	t.action = &trackerAction{action: a, by: by, since: now}
	t.trackerForget()
	switch a {
	case manager.ActionStop:
		t.stopped = true
	case manager.ActionStart, manager.ActionRestart:
		t.stopped = false
	}
	if t.maint.on {
		t.maint.trackerAction(a, by)
	}
	if by.ID == AutoRestartActor.ID {
		t.inc.NextAutoRestart = time.Time{} // in flight; auto_restart announced it
		return ds
	}
	if t.maint.on {
		return ds
	}
	e := Event{What: EventActionBegun, Action: a, By: &by, At: now}
	if t.inc.Open {
		return append(ds, t.trackerUpdate(e))
	}
	return append(ds, t.trackerDecision(DecisionAnnounce, e))
}

// ActionEnded takes the end of an action through the bot. A start or restart
// that ends well resolves an open incident, crediting by; a stop that ends
// well closes it on purpose. A failed one is posted in the incident's thread.
func (t *Tracker) ActionEnded(now time.Time, a manager.Action, by manager.Actor, ok bool, detail string) []Decision {
	ds := t.trackerExpire(now)
	t.action = nil
	t.trackerForget()
	if a == manager.ActionStart || a == manager.ActionRestart {
		t.stopped = false
	}
	if !t.inc.Open {
		return ds
	}
	if ok {
		return append(ds, t.trackerResolve(now, &by, Event{What: EventActionDone, Action: a, By: &by}))
	}
	if a != manager.ActionStop {
		b := by
		t.resolver = &b
	}
	e := Event{What: EventActionFailed, Action: a, By: &by, Detail: detail}
	giveUp := t.trackerScheduleAuto(now)
	if !t.inc.NextAutoRestart.IsZero() {
		e.NextAutoRestartIn = t.autoDelay
	}
	if !t.maint.on {
		ds = append(ds, t.trackerUpdate(e))
	}
	return append(ds, giveUp...)
}

// AckError says why an acknowledgement was refused: there is no open alert
// (Acked nil), or Acked is who acknowledged it already.
type AckError struct {
	Service string
	Acked   *Ack
}

func (e *AckError) Error() string {
	if e.Acked == nil {
		return "nothing to acknowledge: " + e.Service + " has no open alert"
	}
	return "already acknowledged by " + e.Acked.By.String()
}

// Acknowledge records that by is on it: shown on the alert, no more
// reminders. Auto-restart goes on. With no open alert, or one acknowledged
// already, it returns an *AckError and changes nothing.
func (t *Tracker) Acknowledge(now time.Time, by manager.Actor) ([]Decision, error) {
	ds := t.trackerExpire(now)
	if !t.inc.Open {
		return ds, &AckError{Service: t.service}
	}
	if a := t.inc.Acked; a != nil {
		return ds, &AckError{Service: t.service, Acked: &Ack{By: a.By, At: a.At}}
	}
	t.inc.Acked = &Ack{By: by, At: now}
	return append(ds, t.trackerUpdate(Event{What: EventAcked, By: &by, At: now})), nil
}

// Maintenance starts, extends or (until zero or not after now) ends a
// maintenance window. During it no alert opens, no reminder goes out and
// nothing is announced; what happened is summarised at its end.
func (t *Tracker) Maintenance(now time.Time, until time.Time, by manager.Actor, reason string) []Decision {
	ds := t.trackerExpire(now)
	if until.IsZero() || !until.After(now) {
		if !t.maint.on {
			return append(ds, t.trackerDecision(DecisionAnnounce, Event{What: EventNoMaintenance, By: &by}))
		}
		return append(ds, t.trackerEndMaint(now, &by))
	}
	return append(ds, t.trackerBeginMaint(now, Window{Until: until, By: by, Reason: reason})...)
}

// Recurring begins the occurrence of a recurring window (w.Recurring its
// ID, w.Until its end) that started at start, unless it began already:
// began is true the first time only, for each start, also across a
// restored tracker (State keeps it). The window mutes as Maintenance does.
// A window in force that lasts at least as long already mutes: it stays,
// and nothing is announced; one that ends sooner is extended to w.
func (t *Tracker) Recurring(now time.Time, w Window, start time.Time) (ds []Decision, began bool) {
	ds = t.trackerExpire(now)
	if last, ok := t.occurrences[w.Recurring]; ok && last.Equal(start) || !w.Until.After(now) {
		return ds, false
	}
	if t.occurrences == nil {
		t.occurrences = map[string]time.Time{}
	}
	for id, at := range t.occurrences { // those that can no longer matter
		if now.Sub(at) > trackerOccurrenceKeep {
			delete(t.occurrences, id)
		}
	}
	t.occurrences[w.Recurring] = start
	if t.maint.on && !t.maint.window.Until.Before(w.Until) {
		return ds, true
	}
	return append(ds, t.trackerBeginMaint(now, w)...), true
}

// trackerOccurrenceKeep is how long the start of an occurrence is kept: a
// window lasts at most 7 days, so an older start cannot be open.
const trackerOccurrenceKeep = 8 * 24 * time.Hour

// InMaintenance returns the maintenance window in force at now, if any.
func (t *Tracker) InMaintenance(now time.Time) (Window, bool) {
	if !t.maint.on || !now.Before(t.maint.window.Until) {
		return Window{}, false
	}
	return t.maint.window, true
}

// trackerBeginMaint starts or extends the maintenance window to w.
func (t *Tracker) trackerBeginMaint(now time.Time, w Window) []Decision {
	var ds []Decision
	if t.maint.on {
		t.maint.window = w
		return append(ds, t.trackerDecision(DecisionAnnounce, Event{What: EventMaintenanceExtended, Window: &w}))
	}
	t.maint = trackerMaint{on: true, window: w}
	if t.lastState != "" && t.lastState != manager.StateHealthy {
		t.maint.downSince = now
	}
	return append(ds, t.trackerDecision(DecisionAnnounce, Event{What: EventMaintenanceOn, Window: &w}))
}

// Tick lets time pass: it ends an expired maintenance window, sends a due
// reminder and asks for a due auto-restart. Call it every few seconds.
func (t *Tracker) Tick(now time.Time) []Decision {
	ds := t.trackerExpire(now)
	if !t.inc.Open || t.maint.on {
		return ds
	}
	if r := t.rules.RepeatInterval; r > 0 && t.inc.Acked == nil && now.Sub(t.remindFrom) >= r {
		t.remindFrom = now
		ds = append(ds, t.trackerDecision(DecisionRemind, Event{What: EventReminder, State: t.inc.State,
			Reason: t.inc.Reason, Exit: t.inc.Exit, Since: t.inc.Since, Lasted: now.Sub(t.inc.Since), Memory: t.inc.Memory.clone()}))
	}
	next := t.inc.NextAutoRestart
	if !t.rules.AutoRestart || t.inc.GaveUp || next.IsZero() || now.Before(next) || t.action != nil || t.stopped {
		return ds
	}
	if n := t.trackerAttempts(now); n >= t.rules.AutoRestartMax {
		return append(ds, t.trackerGiveUp(n))
	}
	t.autoAttempts = append(t.autoAttempts, now)
	t.inc.AutoRestarts++
	waited := t.autoDelay
	t.autoDelay *= 2
	// Planned again in case no action follows (the monitor could not start
	// it); ActionBegun clears this and ActionEnded plans the next.
	t.inc.NextAutoRestart = now.Add(t.autoDelay)
	return append(ds, t.trackerDecision(DecisionAutoRestart, Event{What: EventAutoRestart,
		Attempt: t.inc.AutoRestarts, Max: t.rules.AutoRestartMax, Waited: waited}))
}

// trackerForget resets what an action through the bot makes meaningless:
// consecutive checks and the uptime baseline.
func (t *Tracker) trackerForget() {
	t.failures, t.successes, t.firstFailure = 0, 0, time.Time{}
	t.started = time.Time{}
	t.resolver = nil
}

// trackerOpen opens an incident from the fields of proto and plans the first
// auto-restart; e is the fact that opened it.
func (t *Tracker) trackerOpen(now time.Time, proto Incident, e Event) []Decision {
	t.lastID++
	proto.Service, proto.ID, proto.Open = t.service, t.lastID, true
	t.inc = proto
	t.remindFrom = now
	t.autoDelay = t.rules.AutoRestartBackoff
	t.resolver = nil
	giveUp := t.trackerScheduleAuto(now)
	if !t.inc.NextAutoRestart.IsZero() {
		e.NextAutoRestartIn = t.autoDelay
	}
	return append([]Decision{t.trackerDecision(DecisionOpen, e)}, giveUp...)
}

// trackerScheduleAuto plans the next auto-restart autoDelay from now, or
// gives up when that attempt would exceed AutoRestartMax in its hour.
func (t *Tracker) trackerScheduleAuto(now time.Time) []Decision {
	if !t.rules.AutoRestart || !t.inc.Open || t.inc.GaveUp || t.stopped {
		return nil
	}
	next := now.Add(t.autoDelay)
	if n := t.trackerAttempts(next); n >= t.rules.AutoRestartMax {
		return []Decision{t.trackerGiveUp(n)}
	}
	t.inc.NextAutoRestart = next
	return nil
}

// trackerAttempts counts the auto-restarts in the hour before at, and drops
// those that can no longer count.
func (t *Tracker) trackerAttempts(at time.Time) int {
	n := 0
	kept := t.autoAttempts[:0]
	for _, a := range t.autoAttempts {
		if at.Sub(a) < time.Hour {
			kept = append(kept, a)
			n++
		}
	}
	t.autoAttempts = kept
	return n
}

func (t *Tracker) trackerGiveUp(n int) Decision {
	t.inc.GaveUp = true
	t.inc.NextAutoRestart = time.Time{}
	return t.trackerDecision(DecisionGiveUp, Event{What: EventGaveUp, Attempt: n, Max: t.rules.AutoRestartMax, State: t.inc.State})
}

// trackerResolve closes the open incident; e is the fact that closed it
// (its Lasted is filled in here).
func (t *Tracker) trackerResolve(now time.Time, by *manager.Actor, e Event) Decision {
	t.inc.Open = false
	t.inc.ResolvedAt = now
	if by != nil {
		b := *by
		t.inc.ResolvedBy = &b
	}
	t.inc.NextAutoRestart = time.Time{}
	e.Service = t.service
	e.Lasted = now.Sub(t.inc.Since)
	d := Decision{Kind: DecisionResolve, Incident: trackerClone(t.inc), Event: e}
	t.inc = Incident{}
	t.resolver = nil
	t.autoDelay = t.rules.AutoRestartBackoff
	return d
}

func (t *Tracker) trackerUpdate(e Event) Decision {
	t.inc.Updates++
	return t.trackerDecision(DecisionUpdate, e)
}

func (t *Tracker) trackerDecision(k DecisionKind, e Event) Decision {
	e.Service = t.service
	return Decision{Kind: k, Incident: t.Snapshot(), Event: e}
}

// trackerExpire ends the maintenance window when now has reached its end.
func (t *Tracker) trackerExpire(now time.Time) []Decision {
	if !t.maint.on || now.Before(t.maint.window.Until) {
		return nil
	}
	return []Decision{t.trackerEndMaint(t.maint.window.Until, nil)}
}

// trackerEndMaint ends the maintenance window at end, by a person or (by nil)
// because it expired, and summarises it. Thresholds count afresh from here.
func (t *Tracker) trackerEndMaint(end time.Time, by *manager.Actor) Decision {
	m := t.maint
	t.maint = trackerMaint{}
	m.trackerUp(end)
	w, sum := m.window, m.sum
	sum.End = t.lastState
	e := Event{What: EventMaintenanceEnded, By: by, Window: &w, Summary: &sum, At: end}

	t.failures, t.successes, t.firstFailure = 0, 0, time.Time{}
	switch {
	case t.inc.Open:
		t.remindFrom = end
		if !t.inc.NextAutoRestart.IsZero() {
			t.inc.NextAutoRestart = end.Add(t.autoDelay)
		}
		e.StillOpen = true
	case t.lastState != "" && t.lastState != manager.StateHealthy && !t.stopped && t.action == nil:
		e.State, e.Threshold = t.lastState, t.rules.FailureThreshold
	}
	return t.trackerDecision(DecisionAnnounce, e)
}

func (m *trackerMaint) trackerDown(now time.Time) {
	if m.downSince.IsZero() {
		m.downSince = now
	}
}

func (m *trackerMaint) trackerUp(now time.Time) {
	if !m.downSince.IsZero() {
		m.sum.Down += now.Sub(m.downSince)
		m.downSince = time.Time{}
	}
}

func (m *trackerMaint) trackerAction(a manager.Action, by manager.Actor) {
	name := by.String()
	for i := range m.sum.Actions {
		if c := &m.sum.Actions[i]; c.Action == a && c.By == name {
			c.Count++
			return
		}
	}
	m.sum.Actions = append(m.sum.Actions, ActionCount{Action: a, By: name, Count: 1})
}
