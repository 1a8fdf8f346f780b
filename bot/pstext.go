package bot

import (
	"fmt"
	"time"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/manager"
)

// The words of `ps`: the service's processes, the Chromium trees grouped
// under their session.

// ProcessGroup is the processes of one session's Chromium tree, or, with
// Session "", the service's own processes (and Chromium processes of no
// session).
type ProcessGroup struct {
	Session   string
	Processes []manager.Process
}

// GroupProcesses groups processes under their session: first the
// service's own, in the order given, then each session's, in the order
// each session first appears.
func GroupProcesses(ps []manager.Process) []ProcessGroup {
	own := ProcessGroup{}
	var groups []ProcessGroup
	index := map[string]int{}
	for _, p := range ps {
		if p.Session == "" {
			own.Processes = append(own.Processes, p)
			continue
		}
		i, ok := index[p.Session]
		if !ok {
			i = len(groups)
			index[p.Session] = i
			groups = append(groups, ProcessGroup{Session: p.Session})
		}
		groups[i].Processes = append(groups[i].Processes, p)
	}
	if len(own.Processes) == 0 {
		return groups
	}
	return append([]ProcessGroup{own}, groups...)
}

// ProcessGroupLine heads a session's processes: "session user_12: 7
// processes, 1.0 GiB, 2.1% CPU".
func ProcessGroupLine(g ProcessGroup) string {
	var rss uint64
	var cpu float64
	for _, p := range g.Processes {
		rss += p.RSS
		cpu += p.CPUPercent
	}
	return fmt.Sprintf("session %s: %s, %s, %s CPU", g.Session, human.Count(len(g.Processes), "process"), human.Bytes(rss), human.Percent(cpu))
}

// ProcessesHeadline counts processes: "30 processes, 3.2 GiB; 27 of them in
// the browsers of 3 sessions".
func ProcessesHeadline(ps []manager.Process) string {
	var rss uint64
	inSessions, sessions := 0, map[string]bool{}
	for _, p := range ps {
		rss += p.RSS
		if p.Session != "" {
			inSessions++
			sessions[p.Session] = true
		}
	}
	s := fmt.Sprintf("%s, %s", human.Count(len(ps), "process"), human.Bytes(rss))
	if inSessions > 0 {
		s += fmt.Sprintf("; %d of them in the browsers of %s", inSessions, human.Count(len(sessions), "session"))
	}
	return s
}

// ProcessWhat says what a process is: for Chromium's, its session and role
// ("user_12_instance_main: chromium renderer"; "no session: chromium
// browser" for one whose profile is no session's), else its command line
// cut to n runes.
func ProcessWhat(p manager.Process, n int) string {
	if p.Chromium == "" {
		return human.Cut(p.Command, n)
	}
	who := p.Session
	if who == "" {
		who = "no session"
	}
	return human.Cut(who+": chromium "+p.Chromium, n)
}

// ProcessAge is how long a process has run, "?" when unknown.
func ProcessAge(p manager.Process, now time.Time) string {
	if p.Started.IsZero() {
		return "?"
	}
	return human.Duration(now.Sub(p.Started))
}
