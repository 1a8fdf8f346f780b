package agent

// The JSON an agent and a hub exchange: the hub's request is a sign.Signed;
// the agent's reply is a Reply; a long action's progress and result are
// Events on fleet.EventsSubject(host, nonce).

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// The endpoints' verbs: one micro endpoint each, on
// fleet.AgentSubject(host, verb).
const (
	VerbStatus   = "status"
	VerbStart    = "start"
	VerbStop     = "stop"
	VerbRestart  = "restart"
	VerbLogs     = "logs"
	VerbOutput   = "output"
	VerbPS       = "ps"
	VerbSessions = "sessions"
	VerbCleanup  = "cleanup"
	VerbDoctor   = "doctor"
	VerbServices = "services"
	// VerbAck and VerbMaintenance are about the service's alerts, asked
	// of the agent's monitor: ack; maintenance with the arguments
	// [until (RFC 3339; zero: end the window), reason].
	VerbAck         = "ack"
	VerbMaintenance = "maintenance"
	// VerbUptime and VerbIncidents read the agent's history: uptime with
	// [from, to (RFC 3339), bucket (a duration)], incidents with [n].
	VerbUptime    = "uptime"
	VerbIncidents = "incidents"
	// The recurring maintenance windows of the agent's monitor:
	// windows lists the host's (no service); windowadd adds one for the
	// service with [schedule, duration, reason]; windowcancel cancels
	// the host's window [id] (no service).
	VerbWindows      = "windows"
	VerbWindowAdd    = "windowadd"
	VerbWindowCancel = "windowcancel"
)

// Verbs lists every endpoint.
func Verbs() []string {
	return []string{VerbStatus, VerbStart, VerbStop, VerbRestart, VerbLogs, VerbOutput, VerbPS,
		VerbSessions, VerbCleanup, VerbDoctor, VerbServices, VerbAck, VerbMaintenance, VerbUptime, VerbIncidents,
		VerbWindows, VerbWindowAdd, VerbWindowCancel}
}

// IsAction reports whether verb is a long action: answered with Accepted,
// its progress and result published as Events.
func IsAction(verb string) bool {
	switch verb {
	case VerbStart, VerbStop, VerbRestart, VerbCleanup:
		return true
	}
	return false
}

// Metadata keys of the agent's micro service (what $SRV.INFO tells a hub).
const (
	MetaHost     = "host"
	MetaVersion  = "version"
	MetaStarted  = "started"  // RFC 3339
	MetaServices = "services" // comma-joined names
)

// Reply is an agent's answer to one request: exactly one field is set.
type Reply struct {
	Error     *Error                   `json:"error,omitempty"`
	Accepted  bool                     `json:"accepted,omitempty"`
	Status    *manager.Status          `json:"status,omitempty"`
	Logs      *manager.LogResult       `json:"logs,omitempty"` // logs and output
	Processes []manager.Process        `json:"processes,omitempty"`
	Sessions  *whatsapp.SessionsReport `json:"sessions,omitempty"`
	Checks    []doctor.Check           `json:"checks,omitempty"`
	Services  []string                 `json:"services,omitempty"`
	Done      bool                     `json:"done,omitempty"` // ack, maintenance
	Uptime    *history.Report          `json:"uptime,omitempty"`
	Incidents []history.Incident       `json:"incidents,omitempty"`
	Windows   []alerts.WindowInfo      `json:"windows,omitempty"`
	Window    *alerts.RecurringWindow  `json:"window,omitempty"` // windowadd, windowcancel
}

// Event is one message of a long action on fleet.EventsSubject: a progress
// Step, or the final one (Done) with the typed Result (manager.StartResult,
// StopResult, RestartResult or CleanupResult) and the action's error.
type Event struct {
	Step   string          `json:"step,omitempty"`
	Done   bool            `json:"done,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

// Error is an error as it crosses the wire: its usererr code and the text
// safe to show (usererr.Message), never the raw cause. The manager's errors
// that front ends word themselves travel as facts: Busy, Precondition, or
// Sentinel ("already_running", "already_stopped").
type Error struct {
	Code         usererr.Code               `json:"code"`
	Message      string                     `json:"message"`
	Busy         *manager.BusyError         `json:"busy,omitempty"`
	Precondition *manager.PreconditionError `json:"precondition,omitempty"`
	Sentinel     string                     `json:"sentinel,omitempty"`
}

// Sentinels of Error.Sentinel.
const (
	SentinelAlreadyRunning = "already_running"
	SentinelAlreadyStopped = "already_stopped"
)

// EncodeError is err as it goes on the wire; nil for nil.
func EncodeError(err error) *Error {
	if err == nil {
		return nil
	}
	e := &Error{Code: usererr.CodeOf(err), Message: usererr.Message(err)}
	var busy *manager.BusyError
	var pre *manager.PreconditionError
	switch {
	case errors.As(err, &busy):
		e.Busy, e.Code = busy, usererr.Conflict
	case errors.As(err, &pre):
		e.Precondition, e.Code = pre, usererr.Invalid
	case errors.Is(err, manager.ErrAlreadyRunning):
		e.Sentinel = SentinelAlreadyRunning
	case errors.Is(err, manager.ErrAlreadyStopped):
		e.Sentinel = SentinelAlreadyStopped
	}
	return e
}

// Decode is the error a hub returns for e: the manager's *BusyError or
// *PreconditionError as they are (front ends word them as for a local
// service); else a *usererr.Error with e's code and message (wrapping
// manager.ErrAlreadyRunning or ErrAlreadyStopped when it is one). host
// prefixes nothing: the message is the agent's.
func (e *Error) Decode() error {
	if e == nil {
		return nil
	}
	switch {
	case e.Busy != nil:
		return e.Busy
	case e.Precondition != nil:
		return e.Precondition
	}
	code := e.Code
	if code == "" {
		code = usererr.Internal
	}
	msg := e.Message
	if msg == "" {
		msg = usererr.Fallback
	}
	ue := &usererr.Error{Code: code, Message: msg}
	switch e.Sentinel {
	case SentinelAlreadyRunning:
		ue.Err = manager.ErrAlreadyRunning
	case SentinelAlreadyStopped:
		ue.Err = manager.ErrAlreadyStopped
	}
	return ue
}

// StatusCode is the micro error code ("403") that goes with a usererr code
// in the Nats-Service-Error-Code header.
func StatusCode(c usererr.Code) string {
	n := 500
	switch c {
	case usererr.Invalid:
		n = 400
	case usererr.Forbidden:
		n = 403
	case usererr.NotFound:
		n = 404
	case usererr.Conflict:
		n = 409
	case usererr.Unavailable:
		n = 503
	}
	return strconv.Itoa(n)
}

// LogArgs are a LogQuery as the signed request's arguments:
// "lines=50", "filter=...", "health=true".
func LogArgs(q manager.LogQuery) []string {
	args := []string{"lines=" + strconv.Itoa(q.Lines)}
	if q.Filter != "" {
		args = append(args, "filter="+q.Filter)
	}
	if q.IncludeHealth {
		args = append(args, "health=true")
	}
	return args
}

// ParseLogArgs is LogArgs's inverse; the query is validated by the
// service.
func ParseLogArgs(args []string) (manager.LogQuery, error) {
	var q manager.LogQuery
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return q, fmt.Errorf("argument %q is not key=value", a)
		}
		switch k {
		case "lines":
			n, err := strconv.Atoi(v)
			if err != nil {
				return q, fmt.Errorf("lines %q is not a number", v)
			}
			q.Lines = n
		case "filter":
			q.Filter = v
		case "health":
			q.IncludeHealth = v == "true"
		default:
			return q, fmt.Errorf("unknown argument %q", k)
		}
	}
	return q, nil
}
