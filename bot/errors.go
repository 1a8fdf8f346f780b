package bot

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// userError returns err as a person may see it: err itself when it already
// carries a safe message (a *usererr.Error), a usererr with the bot's
// sentence for the errors of manager it knows, or a usererr whose message is
// the fallback. The raw error stays its cause, for the log and the audit
// line; errors.Is and errors.As still see it. service names the service
// the error is about, now is the time for "since when".
func userError(err error, service string, now time.Time) error {
	if err == nil {
		return nil
	}
	if off := offlineOf(err); off != nil {
		// One wording for a host without its agent, whoever wrapped it.
		return usererr.Wrap(err, usererr.Unavailable, "%s", OfflineText(off, now))
	}
	var safe *usererr.Error
	if errors.As(err, &safe) {
		return err
	}
	var busy *manager.BusyError
	var pre *manager.PreconditionError
	switch {
	case errors.As(err, &busy):
		return usererr.Wrap(err, usererr.Conflict, "%s", busyText(busy, now))
	case errors.Is(err, manager.ErrAlreadyRunning):
		return usererr.Wrap(err, usererr.Conflict, "%s is already running; nothing was done", orService(service))
	case errors.As(err, &pre):
		// The failed checks are doctor's: written for the operator.
		var b strings.Builder
		for i, c := range pre.Failed {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(c.Name + ": " + c.Detail)
		}
		return usererr.Wrap(err, usererr.Invalid, "%s cannot start: %s", orService(pre.Service), b.String())
	case errors.Is(err, fs.ErrNotExist):
		return usererr.Wrap(err, usererr.NotFound, "%s: a file the bot needs is missing (has the service ever started?); the bot's log names it", orService(service))
	case errors.Is(err, fs.ErrPermission):
		return usererr.Wrap(err, usererr.Unavailable, "%s: the bot may not read a file it needs; the bot's log names it", orService(service))
	}
	return usererr.Wrap(err, usererr.Internal, "%s", usererr.Fallback)
}

// outcomeError is the error of an action's outcome as people may see it:
// err itself or the known manager errors as userError says them, else a
// sentence from the outcome's facts (processes that survived the stop, an
// exit before the service became healthy, no health in time), else the
// fallback. The raw error stays its cause.
func outcomeError(o *Outcome, now time.Time) error {
	if o.Err == nil {
		return nil
	}
	err := userError(o.Err, o.Service, now)
	var safe *usererr.Error
	if usererr.CodeOf(err) != usererr.Internal || errors.As(o.Err, &safe) {
		return err
	}
	switch {
	case o.Stop != nil && len(o.Stop.Survivors) > 0:
		msg := human.Count(len(o.Stop.Survivors), "process") + " survived the stop"
		if o.Action == manager.ActionRestart {
			msg += "; not starting"
		}
		return usererr.Wrap(o.Err, usererr.Unavailable, "%s", msg)
	case o.Start != nil && o.Start.Exited:
		return usererr.Wrap(o.Err, usererr.Unavailable, "exited before it became healthy (%s)", exitWords(o.Start))
	case o.Start != nil && !o.Start.Healthy && o.Start.PID > 0:
		return usererr.Wrap(o.Err, usererr.Unavailable, "not healthy within the start timeout; pid %d is still running", o.Start.PID)
	}
	return err
}

// exitWords says how a start's process exited: "exit code 3", "killed by
// SIGKILL", "exit code 137: its child was killed by SIGKILL".
func exitWords(s *manager.StartResult) string {
	e := s.Exit
	if !e.Known {
		e = manager.Exit{Code: s.ExitCode, Signal: s.Signal}
	}
	switch {
	case e.Signal != "":
		return "killed by " + e.Signal
	case e.ChildSignal != "":
		return fmt.Sprintf("exit code %d: its child was killed by %s", e.Code, e.ChildSignal)
	default:
		return fmt.Sprintf("exit code %d", e.Code)
	}
}

// busyText says who is doing what to a service, since when: "whatsapp is
// busy: restart by bob since 03:04:05".
func busyText(b *manager.BusyError, now time.Time) string {
	return orService(b.Service) + " is busy: " + string(b.Action) + " by " + b.By.String() + " since " + human.Clock(b.Since, now, nil)
}

// refusalText is the text of an Authorizer's refusal. Authorizer's
// contract is that its error is safe to show; a *usererr.Error in it wins.
func refusalText(err error) string {
	var safe *usererr.Error
	if errors.As(err, &safe) {
		return usererr.Message(err)
	}
	return err.Error()
}

// lookupError is the error of a Directory that found no service called
// name ("" = the only one), in the bot's words.
func lookupError(err error, name string, names []string, now time.Time) error {
	if offlineOf(err) != nil {
		return userError(err, name, now)
	}
	var safe *usererr.Error
	if errors.As(err, &safe) {
		return err
	}
	list := strings.Join(names, ", ")
	if name == "" {
		return usererr.Wrap(err, usererr.Invalid, "there are several services: say which one (%s)", list)
	}
	return usererr.Wrap(err, usererr.NotFound, "no service %q (services: %s)", human.Cut(name, 40), list)
}

func orService(name string) string {
	if name == "" {
		return "the service"
	}
	return name
}
