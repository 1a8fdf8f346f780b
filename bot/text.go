package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// The wording shared by every front end: the console and Slack say the same
// things in the same words.

// RestorationLine summarises a restoration in one line.
func RestorationLine(r manager.Restoration, loc *time.Location) string {
	switch {
	case r.Error != "":
		return "failed: " + cutText(r.Error, 120)
	case !r.Done() && r.StartedAt.IsZero() && len(r.Sessions) == 0:
		return "not begun yet (the service restores sessions a few seconds after it starts)"
	case !r.Done():
		return fmt.Sprintf("in progress: %d of %s sessions handled", handled(r), foundText(r.Found))
	}
	s := fmt.Sprintf("%s found: %d restored, %d failed", foundText(r.Found), r.Restored, r.Failed)
	if ready, qr := len(r.RestoredSessions())-len(r.Pending())-len(r.NeedQR()), len(r.NeedQR()); ready > 0 || qr > 0 {
		s += fmt.Sprintf(" (%d ready, %d %s a QR scan)", ready, qr, map[bool]string{true: "needs", false: "need"}[qr == 1])
	}
	if !r.CompletedAt.IsZero() {
		s += " at " + r.CompletedAt.In(loc).Format("15:04:05")
	}
	return s
}

// handled counts the sessions whose restoration has an outcome.
func handled(r manager.Restoration) int {
	n := 0
	for _, o := range r.Sessions {
		if o.Result != manager.SessionRestoring {
			n++
		}
	}
	return n
}

func foundText(n int) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

// OutcomeLine is the one-line summary of an action, as posted to the alerts
// channel: "restart whatsapp by alice: healthy in 2.3s".
func OutcomeLine(o *Outcome) string {
	mark := "✓"
	if !o.OK() {
		mark = "✗"
	}
	return fmt.Sprintf("%s %s %s by %s in %s: %s", mark, o.Action, o.Service, o.By, HumanDuration(o.Took), OutcomeDetail(o))
}

func OutcomeDetail(o *Outcome) string {
	var parts []string
	if st := o.Stop; st != nil {
		switch {
		case !st.WasRunning && o.Action == manager.ActionRestart:
			parts = append(parts, "was not running, started it")
		case !st.WasRunning:
			parts = append(parts, "was not running")
		case st.Forced:
			parts = append(parts, fmt.Sprintf("did not stop on SIGTERM within the stop timeout: killed (SIGKILL), %s in %s", Plural(len(st.Stopped), "process"), HumanDuration(st.Duration)))
		default:
			parts = append(parts, fmt.Sprintf("stopped gracefully, %s in %s", Plural(len(st.Stopped), "process"), HumanDuration(st.Duration)))
		}
		if len(st.Leftovers) > 0 {
			parts = append(parts, fmt.Sprintf("ended %s that outlived it", Plural(len(st.Leftovers), "process")))
		}
	}
	if s := o.Start; s != nil && (o.Action != manager.ActionStop) {
		if len(s.LeftoversEnded) > 0 {
			parts = append(parts, fmt.Sprintf("ended %s left by an earlier run", Plural(len(s.LeftoversEnded), "process")))
		}
		if len(s.LocksRemoved) > 0 {
			parts = append(parts, fmt.Sprintf("removed %s", Plural(len(s.LocksRemoved), "stale Chromium lock")))
		}
		if s.Healthy {
			parts = append(parts, fmt.Sprintf("pid %d healthy in %s", s.PID, HumanDuration(s.TimeToHealthy)))
		}
	}
	if o.Err != nil {
		parts = append(parts, usererr.Message(o.Err))
	}
	return strings.Join(parts, "; ")
}

func ConfirmQuestion(p *Pending) string {
	what := "stops every process of the service"
	if p.Command.Verb == VerbRestart {
		what = "stops every process of the service, then starts it again"
	}
	return fmt.Sprintf("%s %s? This %s; WhatsApp sessions disconnect meanwhile.", p.Command.Verb, p.Service, what)
}

// Duration prints a duration the way people read it: 4m12s, 2h13m, 3d4h, 2.3s.
func HumanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	default:
		days := int(d / (24 * time.Hour))
		return fmt.Sprintf("%dd%dh", days, int((d%(24*time.Hour))/time.Hour))
	}
}

// Bytes prints a size in binary units.
func HumanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "s") {
		return fmt.Sprintf("%d %ses", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func cutText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// SessionState says how one session's restoration went, in a few words:
// "failed: <likely cause>", "restored, connected", "restored, NEEDS A QR SCAN".
func SessionState(o manager.SessionOutcome) string {
	state := string(o.Result)
	switch {
	case o.Result == manager.SessionFailed || o.Result == manager.SessionError:
		state += ": " + cutText(o.LikelyCause(), 120)
	case o.Connection == manager.ConnectionReady:
		state += ", connected"
	case o.Connection == manager.ConnectionQR:
		state += ", NEEDS A QR SCAN"
	}
	return state
}
