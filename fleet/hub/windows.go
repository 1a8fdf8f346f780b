package hub

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/fleet/agent"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
)

// The recurring maintenance windows of the agents' monitors. An agent
// numbers its windows as a single bot does ("1", "c1"); the hub addresses
// them "host/1" and their services "host/service".

// AddressWindow is w of host as the fleet names it: its ID and services
// prefixed with "host/".
func AddressWindow(host string, w alerts.RecurringWindow) alerts.RecurringWindow {
	w.ID = host + "/" + w.ID
	w.Services = slices.Clone(w.Services)
	for i, s := range w.Services {
		w.Services[i] = host + "/" + s
	}
	return w
}

// AddressWindows is ws of host as the fleet names them (AddressWindow),
// each with its Host.
func AddressWindows(host string, ws []alerts.WindowInfo) []alerts.WindowInfo {
	out := make([]alerts.WindowInfo, len(ws))
	for i, w := range ws {
		w.RecurringWindow = AddressWindow(host, w.RecurringWindow)
		w.Host = host
		out[i] = w
	}
	return out
}

// AddWindow adds a recurring maintenance window of the service on its
// agent's monitor, as by; the window comes back as the fleet names it.
func (r *Remote) AddWindow(ctx context.Context, every string, d time.Duration, by manager.Actor, reason string) (alerts.RecurringWindow, error) {
	rep, err := r.call(ctx, agent.VerbWindowAdd, []string{every, d.String(), reason}, by)
	if err != nil {
		return alerts.RecurringWindow{}, err
	}
	if rep.Window == nil {
		return alerts.RecurringWindow{}, r.badReply(agent.VerbWindowAdd)
	}
	return AddressWindow(r.host, *rep.Window), nil
}

// hostClient asks host's agent for what is the host's, not a service's.
func (d *Directory) hostClient(host string) *Remote { return &Remote{c: d.c, host: host} }

// RemoteHosts lists the hosts of the agents discovered, by name.
func (d *Directory) RemoteHosts() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.hosts))
	for h := range d.hosts {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// Windows lists the recurring maintenance windows of every agent
// discovered, asked at once, by host, as the fleet names them. The error
// joins those of the agents that did not answer (an offline one is a
// *fleet.OfflineError), whose windows are not in the list.
func (d *Directory) Windows(ctx context.Context) ([]alerts.WindowInfo, error) {
	hosts := d.RemoteHosts()
	lists := make([][]alerts.WindowInfo, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, host := range hosts {
		wg.Go(func() {
			r := d.hostClient(host)
			rep, err := r.read(ctx, agent.VerbWindows, nil)
			switch {
			case err != nil:
				errs[i] = err
			case rep.Windows == nil:
				errs[i] = r.badReply(agent.VerbWindows)
			default:
				lists[i] = AddressWindows(host, rep.Windows)
			}
		})
	}
	wg.Wait()
	return slices.Concat(lists...), errors.Join(errs...)
}

// CancelWindow cancels the window id ("host/ID") on its host's agent, as
// by; the window comes back as the fleet names it.
func (d *Directory) CancelWindow(ctx context.Context, id string, by manager.Actor) (alerts.RecurringWindow, error) {
	host, local, ok := strings.Cut(id, "/")
	if !ok || !slices.Contains(d.RemoteHosts(), host) {
		return alerts.RecurringWindow{}, usererr.New(usererr.NotFound, "no maintenance window %s: `maintenance list` shows them", id)
	}
	r := d.hostClient(host)
	rep, err := r.call(ctx, agent.VerbWindowCancel, []string{local}, by)
	if err != nil {
		return alerts.RecurringWindow{}, err
	}
	if rep.Window == nil {
		return alerts.RecurringWindow{}, r.badReply(agent.VerbWindowCancel)
	}
	return AddressWindow(host, *rep.Window), nil
}
