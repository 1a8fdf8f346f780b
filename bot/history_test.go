package bot

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/history"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
	"github.com/sanasend/sanasend-bot/internal/usererr"
)

// fakeHistory answers from fixed values and records what it was asked.
type fakeHistory struct {
	mu        sync.Mutex
	err       error
	report    history.Report
	incidents []history.Incident
	asked     []string
	health    history.Health
	// slow, when set, makes Uptime wait for ctx: a locked database.
	slow bool
}

func (h *fakeHistory) Health() history.Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.health
}

func (h *fakeHistory) Uptime(ctx context.Context, service string, from, to time.Time, bucket time.Duration) (history.Report, error) {
	h.mu.Lock()
	slow := h.slow
	h.mu.Unlock()
	if slow {
		<-ctx.Done()
		return history.Report{}, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, "uptime "+service+" "+from.UTC().Format(time.RFC3339)+" "+to.UTC().Format(time.RFC3339)+" "+bucket.String())
	if h.err != nil {
		return history.Report{}, h.err
	}
	r := h.report
	r.Service, r.From, r.To, r.Bucket = service, from, to, bucket
	return r, nil
}

func (h *fakeHistory) Incidents(_ context.Context, service string, n int) ([]history.Incident, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, "incidents "+service+" "+strconv.Itoa(n))
	if h.err != nil {
		return nil, h.err
	}
	return h.incidents[:min(n, len(h.incidents))], nil
}

// fakeChart draws a fixed "PNG", or fails.
type fakeChart struct{ err error }

func (c fakeChart) RenderUptime(r history.Report, loc *time.Location) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	return []byte("\x89PNG\r\n\x1a\n\x00\xff" + r.Service + loc.String()), nil
}

func TestRouterHistory(t *testing.T) {
	now := time.Date(2026, 11, 28, 3, 10, 0, 0, time.UTC)
	rep := history.Report{Uptime: 0.95, Known: true, Healthy: 19 * time.Hour, Unhealthy: time.Hour}
	incs := []history.Incident{{ID: "i2", Service: "whatsapp", Cause: "exit code 137"}, {ID: "i1", Service: "whatsapp", Cause: "HTTP 503"}}
	readFailed := errors.New("sqlite: database disk image is malformed /var/lib/secret/path")
	tests := []struct {
		name      string
		text      string
		hist      *fakeHistory // nil: no history
		noHistory string
		chart     ChartRenderer
		kind      Kind
		asked     string // what the history was asked
		text2     string // substring of the reply's Text
		chartLen  int
		chartFail bool
		audit     string // the audit line's command and outcome
	}{
		{name: "24h", text: "uptime", hist: &fakeHistory{report: rep}, kind: KindUptime,
			asked: "uptime whatsapp 2026-11-27T03:10:00Z 2026-11-28T03:10:00Z 1h0m0s", audit: "uptime 24h ok"},
		{name: "90d", text: "uptime whatsapp 90d", hist: &fakeHistory{report: rep}, kind: KindUptime,
			asked: "uptime whatsapp 2026-08-30T03:10:00Z 2026-11-28T03:10:00Z 24h0m0s", audit: "uptime whatsapp 90d ok"},
		{name: "7d with chart", text: "uptime 7d", hist: &fakeHistory{report: rep}, chart: fakeChart{}, kind: KindUptime,
			asked: "uptime whatsapp 2026-11-21T03:10:00Z 2026-11-28T03:10:00Z 24h0m0s", chartLen: len("\x89PNG\r\n\x1a\n\x00\xffwhatsappUTC"), audit: "uptime 7d ok"},
		{name: "chart fails", text: "uptime", hist: &fakeHistory{report: rep}, chart: fakeChart{err: errors.New("no font")}, kind: KindUptime,
			asked: "uptime whatsapp 2026-11-27T03:10:00Z 2026-11-28T03:10:00Z 1h0m0s", chartFail: true, audit: "uptime 24h ok"},
		{name: "incidents", text: "incidents 1", hist: &fakeHistory{incidents: incs}, kind: KindIncidents,
			asked: "incidents whatsapp 1", audit: "incidents 1 ok"},
		{name: "no history", text: "uptime 7d", kind: KindError, text2: NoHistoryText, audit: "uptime 7d error"},
		{name: "no history incidents", text: "incidents", kind: KindError, text2: NoHistoryText, audit: "incidents 10 error"},
		{name: "history not opened", text: "incidents", noHistory: NoHistoryOpenText("the disk is full"), kind: KindError,
			text2: "could not be opened at start (the disk is full)", audit: "incidents 10 error"},
		{name: "history error", text: "uptime", hist: &fakeHistory{err: readFailed}, kind: KindError,
			asked: "uptime whatsapp 2026-11-27T03:10:00Z 2026-11-28T03:10:00Z 1h0m0s",
			text2: "the history of whatsapp could not be read just now", audit: "uptime 24h error"},
		{name: "history error incidents", text: "incidents 5", hist: &fakeHistory{err: readFailed}, kind: KindError,
			asked: "incidents whatsapp 5", text2: "the history of whatsapp could not be read just now", audit: "incidents 5 error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := &syncbuf.Buffer{}
			store, err := NewConfirmStore(ConfirmConfig{TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			cfg := RouterConfig{Services: fakeDirectory{fakeservice.Directory{fakeservice.New("whatsapp")}},
				Auth: allowList{alice.ID: true}, Confirms: store, Audit: zerolog.New(buf), Now: func() time.Time { return now },
				NoHistory: tc.noHistory, Chart: tc.chart}
			if tc.hist != nil {
				cfg.History = tc.hist
			}
			r, err := NewRouter(cfg)
			if err != nil {
				t.Fatal(err)
			}
			reply := r.Handle(context.Background(), req(alice, tc.text))
			if reply.Kind != tc.kind {
				t.Fatalf("kind %s (%q); want %s", reply.Kind, reply.Text, tc.kind)
			}
			if tc.hist != nil {
				if got := strings.Join(tc.hist.asked, "; "); got != tc.asked {
					t.Errorf("history asked %q; want %q", got, tc.asked)
				}
			}
			if !strings.Contains(reply.Text, tc.text2) {
				t.Errorf("text %q; want it to contain %q", reply.Text, tc.text2)
			}
			if strings.Contains(reply.Text, "/var/lib") || strings.Contains(reply.Text, "malformed") {
				t.Errorf("text %q shows the raw error", reply.Text)
			}
			if tc.kind == KindError && tc.hist != nil && usererr.CodeOf(reply.Err) != usererr.Unavailable {
				t.Errorf("error code %q; want %q", usererr.CodeOf(reply.Err), usererr.Unavailable)
			}
			switch tc.kind {
			case KindUptime:
				if reply.Uptime == nil || reply.Uptime.Service != "whatsapp" || reply.Uptime.Uptime != 0.95 {
					t.Errorf("uptime report %+v", reply.Uptime)
				}
				if len(reply.Chart) != tc.chartLen || reply.ChartFailed != tc.chartFail {
					t.Errorf("chart of %d bytes, failed %v; want %d, %v", len(reply.Chart), reply.ChartFailed, tc.chartLen, tc.chartFail)
				}
			case KindIncidents:
				if len(reply.Incidents) != 1 || reply.Incidents[0].ID != "i2" || reply.Asked != 1 {
					t.Errorf("incidents %+v, asked %d", reply.Incidents, reply.Asked)
				}
			}
			f := routerFixture{audit: buf}
			lines := f.auditLines(t)
			var got []string
			for _, l := range lines {
				if l["audit"] == true {
					got = append(got, l["command"].(string)+" "+l["outcome"].(string))
					if l["service"] != "whatsapp" {
						t.Errorf("audit line service %v; want whatsapp", l["service"])
					}
				}
			}
			if len(got) != 1 || got[0] != tc.audit {
				t.Errorf("audit %q; want [%q]", got, tc.audit)
			}
		})
	}
}
