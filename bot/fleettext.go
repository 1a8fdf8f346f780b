package bot

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/manager"
)

// The words for a fleet: a service addressed as "host/service", a host
// whose agent is gone, the hub's alert about an agent that stopped
// reporting. One sentence per fact, for Slack and the console alike.

// Address is a service's name as a fleet's hub names it: "web-2/whatsapp";
// the plain service name where host is "" (one host).
func Address(host, service string) string {
	if host == "" {
		return service
	}
	return host + "/" + service
}

// SplitAddress splits "web-2/whatsapp" into its host and service; a name
// without '/' has host "".
func SplitAddress(name string) (host, service string) {
	if h, s, ok := strings.Cut(name, "/"); ok {
		return h, s
	}
	return "", name
}

// NoticeService is the display name of a notice's service: "From/Service"
// for a notice observed by another host's agent, its Service otherwise
// ("" for a notice about no service).
func NoticeService(n alerts.Notice) string {
	if n.Service == "" {
		return ""
	}
	return noticeName(n.From, n.Service)
}

// noticeName is service as a notice from host names it; a name that
// already carries a host is left as it is.
func noticeName(host, service string) string {
	if host == "" || service == "" || strings.Contains(service, "/") {
		return service
	}
	return Address(host, service)
}

// AddressedNotice is n with every service it names (its Service, its
// event's, its incident's, its digest's and weekly charts') in the form
// NoticeService gives: the renderers of alerts, restoration summaries and
// digests then name a service of another host as "web-2/whatsapp" with no
// more thought. n itself is not changed; a notice without From is
// returned as it is.
func AddressedNotice(n alerts.Notice) alerts.Notice {
	if n.From == "" {
		return n
	}
	host := n.From
	n.Service = noticeName(host, n.Service)
	n.Event.Service = noticeName(host, n.Event.Service)
	if n.Incident != nil {
		inc := *n.Incident
		inc.Service = noticeName(host, inc.Service)
		n.Incident = &inc
	}
	if n.Digest != nil {
		d := *n.Digest
		d.Services = slices.Clone(d.Services)
		for i := range d.Services {
			d.Services[i].Service = noticeName(host, d.Services[i].Service)
		}
		n.Digest = &d
	}
	if n.Weekly != nil {
		w := *n.Weekly
		w.Reports = slices.Clone(w.Reports)
		for i := range w.Reports {
			w.Reports[i].Service = noticeName(host, w.Reports[i].Service)
		}
		n.Weekly = &w
	}
	return n
}

// OfflineText says that a host's agent is gone: "web-2 is offline since
// 14:02:05 (last heard 3m ago)", or "web-2 is offline (never heard from)".
func OfflineText(e *fleet.OfflineError, now time.Time) string {
	if e.Since.IsZero() {
		return e.Host + " is offline (never heard from)"
	}
	return fmt.Sprintf("%s is offline since %s (last heard %s)", e.Host,
		human.Clock(e.Since, now, now.Location()), human.Ago(e.Since, now))
}

// offlineOf returns the *fleet.OfflineError in err's chain, if any.
func offlineOf(err error) *fleet.OfflineError {
	var off *fleet.OfflineError
	if errors.As(err, &off) {
		return off
	}
	return nil
}

// HostSilentLine is the hub's alert that an agent stopped reporting:
// "web-2's agent stopped reporting: last heard 14:02:05, 1m ago (timeout 1m)".
func HostSilentLine(p alerts.HostPresence, now time.Time) string {
	s := p.Host + "'s agent stopped reporting"
	if p.LastSeen.IsZero() {
		return s + ": never heard from"
	}
	s += fmt.Sprintf(": last heard %s, %s", human.Clock(p.LastSeen, now, now.Location()), human.Ago(p.LastSeen, now))
	if p.Timeout > 0 {
		s += fmt.Sprintf(" (timeout %s)", human.Duration(p.Timeout))
	}
	return s
}

// HostBackLine is the resolution of that alert: "web-2's agent is back
// after 4m12s" (the silence since the last heartbeat before it).
func HostBackLine(p alerts.HostPresence, now time.Time) string {
	back := p.Back
	if back.IsZero() {
		back = now
	}
	if p.LastSeen.IsZero() {
		return p.Host + "'s agent is back"
	}
	return fmt.Sprintf("%s's agent is back after %s", p.Host, human.Duration(back.Sub(p.LastSeen)))
}

// HostNoticeLine is the line of a notice about an agent (Notice.Host set):
// the alert when it opens, the resolution when it is back.
func HostNoticeLine(n alerts.Notice, now time.Time) string {
	if n.Host == nil {
		return ""
	}
	if n.Kind == alerts.DecisionResolve || !n.Host.Back.IsZero() {
		return HostBackLine(*n.Host, now)
	}
	return HostSilentLine(*n.Host, now)
}

// ServiceLine is one service of `status` with no name: the status of
// every service, one line each.
type ServiceLine struct {
	// Name is the service as it is addressed: "web-2/whatsapp" in a
	// fleet, "whatsapp" on one host.
	Name string
	// Status is set when the service answered.
	Status *manager.Status
	// Offline is set when the service's host has no agent.
	Offline *fleet.OfflineError
	// Err is the error, safe to show, when it answered neither.
	Err error
}

// Host is the host part of the line's name ("" on one host).
func (l ServiceLine) Host() string {
	h, _ := SplitAddress(l.Name)
	return h
}

// StatusLineText is a ServiceLine as words: "web-2/whatsapp — 🟢 healthy,
// up 3h12m", "web-2/whatsapp — web-2 is offline since 14:02:05 (last
// heard 3m ago)", "billing — ✗ <why it could not be read>".
func StatusLineText(l ServiceLine, now time.Time) string {
	const dash = " — "
	switch {
	case l.Offline != nil:
		return l.Name + dash + OfflineText(l.Offline, now)
	case l.Status == nil:
		msg := "no answer"
		if l.Err != nil {
			msg = userErrorMessage(l.Err, l.Name, now)
		}
		return l.Name + dash + "✗ " + msg
	}
	st := l.Status
	s := l.Name + dash + StateLight(st.State)
	if st.State != manager.StateHealthy && st.Health.Reason != "" {
		s += ": " + human.Cut(st.Health.Reason, 80)
	}
	if !st.Since.IsZero() {
		s += ", up " + human.Duration(st.Uptime)
	}
	if st.Busy != nil {
		s += "; busy: " + string(st.Busy.Action) + " by " + st.Busy.By.String()
	}
	return s
}

// StatusAllHeadline heads the status of every service: "4 services on 2
// hosts: 3 healthy, 1 offline".
func StatusAllHeadline(lines []ServiceLine) string {
	hosts := map[string]bool{}
	healthy, offline := 0, 0
	for _, l := range lines {
		if h := l.Host(); h != "" {
			hosts[h] = true
		}
		switch {
		case l.Offline != nil:
			offline++
		case l.Status != nil && l.Status.State == manager.StateHealthy:
			healthy++
		}
	}
	s := human.Count(len(lines), "service")
	if len(hosts) > 0 {
		s += " on " + human.Count(len(hosts), "host")
	}
	s += fmt.Sprintf(": %d healthy", healthy)
	if offline > 0 {
		s += fmt.Sprintf(", %d offline", offline)
	}
	if rest := len(lines) - healthy - offline; rest > 0 {
		s += fmt.Sprintf(", %d not healthy", rest)
	}
	return s
}
