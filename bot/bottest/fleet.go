package bottest

import (
	"errors"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/manager"
)

// The facts behind the goldens of a fleet (issue 13): `status` of every
// service on two hosts, one of them offline; `hosts`; the hub's alert
// about an agent that stopped reporting and its resolution; notices
// observed on another host (From set).

// FleetLines are `status` with no name on a fleet of three hosts: web-1
// healthy and unhealthy, web-2 offline since 03:07:00, web-3 that never
// reported, and a service whose status could not be read.
func FleetLines() []bot.ServiceLine {
	healthy := manager.Status{Service: "whatsapp", State: manager.StateHealthy, Since: Now.Add(-3*time.Hour - 12*time.Minute), Uptime: 3*time.Hour + 12*time.Minute}
	sick := manager.Status{Service: "billing", State: manager.StateUnhealthy, Since: Now.Add(-5 * time.Minute), Uptime: 5 * time.Minute,
		Health: manager.Health{Reason: "HTTP 503: " + Evil}}
	return []bot.ServiceLine{
		{Name: "web-1/whatsapp", Status: &healthy},
		{Name: "web-1/billing", Status: &sick},
		{Name: "web-2/whatsapp", Offline: &fleet.OfflineError{Host: "web-2", Since: Now.Add(-3 * time.Minute)}},
		{Name: "web-3/whatsapp", Offline: &fleet.OfflineError{Host: "web-3"}},
		{Name: "web-4/whatsapp", Err: errors.New("context deadline exceeded")},
	}
}

// FleetHosts are `hosts`: one online, one offline, one never heard from.
func FleetHosts() []bot.HostInfo {
	return []bot.HostInfo{
		{Name: "web-1", Version: "v1.4.0", Started: Now.Add(-76 * time.Hour), LastSeen: Now.Add(-4 * time.Second), Online: true, Local: true, Services: []string{"billing", "whatsapp"}},
		{Name: "web-2", Version: "v1.3.9", Started: Now.Add(-30 * time.Hour), LastSeen: Now.Add(-3 * time.Minute), Services: []string{"whatsapp"}},
		{Name: "web-3", Version: "", Services: nil},
	}
}

// HostCase is a notice of the fleet, as alertstest.Case.
type HostCase = alertstest.Case

// FleetNotices are the hub's alert about web-2's agent and its
// resolution, and notices observed on web-2 (From set) of every shape
// that names a service: an alert, an update, a resolution, an
// announcement, a restoration summary and a digest. They are rendered
// at alertstest.Now.
func FleetNotices() []HostCase {
	now := alertstest.Now
	silent := alerts.HostPresence{Host: "web-2", LastSeen: now.Add(-61 * time.Second), Timeout: time.Minute}
	back := silent
	back.Back = now
	back.LastSeen = now.Add(-4*time.Minute - 12*time.Second)
	out := []HostCase{
		// As fleet/presence raises them: no event, no From.
		{Name: "host-silent", Notice: alerts.Notice{ID: "host-web-2-down-1", Kind: alerts.DecisionOpen, Host: &silent}},
		{Name: "host-back", Notice: alerts.Notice{ID: "host-web-2-down-1-back", Ref: "host-web-2-down-1", Kind: alerts.DecisionResolve, Host: &back}},
	}
	from := map[string]bool{"alert-stopped": true, "update-acked": true, "resolve-restart": true, "announce-external-restart": true,
		"restoration-timed-out-sessions": true, "digest": true}
	for _, c := range alertstest.Cases() {
		if from[c.Name] {
			c.Name = "from-web-2-" + c.Name
			c.Notice.From = "web-2"
			out = append(out, c)
		}
	}
	return out
}
