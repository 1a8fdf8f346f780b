package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sanasend/sanasend-bot/internal/human"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// HostLister is what `hosts` needs of a Directory that spans hosts (the
// fleet's hub): the agents it knows of. A Directory of one host does not
// implement it.
type HostLister interface {
	Hosts(ctx context.Context) []HostInfo
}

// HostInfo is what the hub knows of one host's agent.
type HostInfo struct {
	Name    string
	Version string
	// Started is when the agent (or the hub, for its own host) started;
	// LastSeen its last heartbeat (zero: never heard from).
	Started  time.Time
	LastSeen time.Time
	// Online: the host answered the hub's last discovery (always, for
	// the hub's own host).
	Online bool
	// Local marks the hub's own host.
	Local bool
	// Services are the host's services, by their plain names.
	Services []string
}

// StatusAllTimeout bounds each service's Status call of `status` with no
// name, so that one slow host cannot hold the reply of the others.
const StatusAllTimeout = 5 * time.Second

// HostLine is one host of `hosts`: "web-1 (this hub) — 🟢 online, v1.4.0, up 3d4h,
// last heard 12s ago; services: whatsapp, billing" or "web-3 — 🔴 offline
// since 14:02:05 (last heard 3m ago), v1.4.0; services: whatsapp".
func HostLine(h HostInfo, now time.Time) string {
	s := h.Name
	if h.Local {
		s += " (this hub)"
	}
	s += " — "
	switch {
	case h.Online:
		s += "🟢 online"
	case h.LastSeen.IsZero():
		s += "🔴 offline (never heard from)"
	default:
		s += fmt.Sprintf("🔴 offline since %s (last heard %s)", human.Clock(h.LastSeen, now, now.Location()), human.Ago(h.LastSeen, now))
	}
	if h.Version != "" {
		s += ", " + human.Cut(h.Version, 40)
	}
	if h.Online && !h.Started.IsZero() {
		s += ", up " + human.Duration(now.Sub(h.Started))
	}
	if h.Online && !h.Local && !h.LastSeen.IsZero() {
		s += ", last heard " + human.Ago(h.LastSeen, now)
	}
	if len(h.Services) == 0 {
		return s + "; no services"
	}
	return s + "; services: " + strings.Join(h.Services, ", ")
}

// HostsHeadline heads `hosts`: "3 hosts: 2 online, 1 offline".
func HostsHeadline(hs []HostInfo) string {
	online := 0
	for _, h := range hs {
		if h.Online {
			online++
		}
	}
	s := human.Count(len(hs), "host") + fmt.Sprintf(": %d online", online)
	if off := len(hs) - online; off > 0 {
		s += fmt.Sprintf(", %d offline", off)
	}
	return s
}

// OneHostText is `hosts` on a bot without a fleet: "this bot runs one
// host: whatsapp, billing".
func OneHostText(services []string) string {
	return "this bot runs one host (no fleet is configured): " + strings.Join(services, ", ")
}

// hosts runs `hosts`.
func (r *Router) hosts(ctx context.Context) Reply {
	hl, ok := r.dir.(HostLister)
	if !ok {
		return Reply{Kind: KindDone, Text: OneHostText(r.dir.Names())}
	}
	// In the Directory's order: the hub's own host first, then by name.
	return Reply{Kind: KindHosts, Hosts: hl.Hosts(ctx), At: r.now()}
}

// statusAll runs `status` with no name where there are several services:
// every service's Status at once, each within RouterConfig.StatusTimeout; a service
// that fails is its own line, never an error for the whole reply.
func (r *Router) statusAll(ctx context.Context, names []string) Reply {
	lines := make([]ServiceLine, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		lines[i].Name = name
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines[i] = r.statusLine(ctx, name)
		}()
	}
	wg.Wait()
	slices.SortStableFunc(lines, func(a, b ServiceLine) int { return strings.Compare(a.Host(), b.Host()) })
	return Reply{Kind: KindStatusAll, Lines: lines, At: r.now(), Undelivered: undelivered(r.dead)}
}

// statusLine asks one service for its status.
func (r *Router) statusLine(ctx context.Context, name string) ServiceLine {
	l := ServiceLine{Name: name}
	svc, err := r.dir.Lookup(name)
	if off := offlineOf(err); off != nil {
		l.Offline = off
		return l
	}
	if err != nil {
		l.Err = lookupError(err, name, r.dir.Names(), r.now())
		return l
	}
	cctx, cancel := context.WithTimeout(ctx, r.statusAllTO)
	defer cancel()
	st, err := svc.Status(cctx)
	switch {
	case err == nil:
		l.Status = &st
	case offlineOf(err) != nil:
		l.Offline = offlineOf(err)
	case cctx.Err() != nil && ctx.Err() == nil:
		l.Err = usererr.Wrap(err, usererr.Unavailable, "no answer within %s", human.Duration(r.statusAllTO))
	default:
		l.Err = userError(err, name, r.now())
	}
	return l
}

// userErrorMessage is err as a person may see it (userError's message).
func userErrorMessage(err error, service string, now time.Time) string {
	return usererr.Message(userError(err, service, now))
}
