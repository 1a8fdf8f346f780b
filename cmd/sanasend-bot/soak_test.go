//go:build soak && !windows

// The soak test is not part of `make test` or CI: `make soak` runs it
// (SOAK_DURATION, 30m by default). It runs `sanasend-bot serve` in this
// process against the fake Slack and a copy of the real stand-in, and at a
// steady rate sends signed slash commands, confirmed restarts, crashes
// (SIGKILL of node alone or of its whole process group) with their alert
// acknowledged and the service restarted from the alert, then checks that
// goroutines, open files and resident memory, as the bot's own /metrics
// reports them, did not grow.

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/sanasend/sanasend-bot/internal/fakeslack"
)

var (
	soakDuration = flag.Duration("soak.duration", 30*time.Minute, "how long the soak test sends operations")
	soakInterval = flag.Duration("soak.interval", 2*time.Second, "one operation per interval")
	soakSample   = flag.Duration("soak.sample", time.Minute, "how often goroutines, RSS and open fds are sampled")
)

// Soak limits: growth over the baseline taken after the warm-up.
const (
	soakGoroutineSlack = 10
	soakFDSlack        = 5
	soakRSSSlack       = 64 << 20 // bytes; or twice the baseline, whichever is more
	soakOpTimeout      = 60 * time.Second
)

// soakSampleRow is one reading of the bot's /metrics.
type soakSampleRow struct {
	at         time.Duration // since the baseline
	label      string
	goroutines int
	rss        int64
	fds        int
	ops        int
}

// soakOp is one kind of operation and how it went.
type soakOp struct {
	name     string
	run      func(*soakRun) error
	ok, fail int
	slowest  time.Duration
}

type soakRun struct {
	t       *testing.T
	f       serveFixture
	crashes int
}

func TestSoak(t *testing.T) {
	r := &soakRun{t: t}
	r.f = startServeWith(t, "monitor:\n  interval: 5s\n  timeout: 2s\n  failure_threshold: 2\n", nil)
	ops := []*soakOp{
		{name: "status", run: command("status", "")},
		{name: "logs", run: command("logs", "")},
		{name: "ps", run: command("ps", "")},
		{name: "restart", run: (*soakRun).restart},
		{name: "sessions", run: command("sessions", "")},
		{name: "doctor", run: command("doctor", "")},
		{name: "help", run: command("help", "")},
		{name: "crash+ack+restart", run: (*soakRun).crash},
	}

	if err := command("start", "start whatsapp")(r); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	// Warm-up: every operation once, so that the pools, caches and
	// connections that live as long as the bot exist before the baseline.
	for _, op := range ops {
		if err := op.run(r); err != nil {
			t.Fatalf("warm-up %s: %v", op.name, err)
		}
	}
	base := r.sample("start", 0, 0)
	samples := []soakSampleRow{base}
	t.Logf("baseline: %d goroutines, RSS %s, %d open fds", base.goroutines, mib(base.rss), base.fds)

	begin := time.Now()
	tick := time.NewTicker(*soakInterval)
	defer tick.Stop()
	nextSample := begin.Add(*soakSample)
	done := 0
	for i := 0; time.Since(begin) < *soakDuration; i++ {
		op := ops[i%len(ops)]
		started := time.Now()
		if err := op.run(r); err != nil {
			op.fail++
			t.Errorf("%s (operation %d, at %s): %v", op.name, i, time.Since(begin).Round(time.Second), err)
		} else {
			op.ok++
		}
		op.slowest = max(op.slowest, time.Since(started))
		done++
		if time.Now().After(nextSample) {
			s := r.sample("", time.Since(begin), done)
			samples = append(samples, s)
			t.Logf("%s: %d goroutines, RSS %s, %d open fds, %d operations", s.at.Round(time.Second), s.goroutines, mib(s.rss), s.fds, done)
			nextSample = nextSample.Add(*soakSample)
		}
		<-tick.C
	}
	// The last operation may have left the service starting: let it be
	// healthy, so that the end is measured at rest like the start.
	if err := command("status", "healthy")(r); err != nil {
		t.Errorf("at the end: %v", err)
	}
	end := r.sample("end", time.Since(begin), done)
	samples = append(samples, end)

	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tat\tgoroutines\tRSS\topen fds\toperations\t")
	for _, s := range samples {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\t%d\t\n", s.label, s.at.Round(time.Second), s.goroutines, mib(s.rss), s.fds, s.ops)
	}
	fmt.Fprintln(w, "\toperation\tok\tfailed\tslowest\t\t")
	for _, op := range ops {
		fmt.Fprintf(w, "\t%s\t%d\t%d\t%s\t\t\n", op.name, op.ok, op.fail, op.slowest.Round(time.Millisecond))
	}
	w.Flush()
	t.Logf("soak of %s, one operation every %s, %d crashes:\n%s", *soakDuration, *soakInterval, r.crashes, b.String())

	rssLimit := max(2*base.rss, base.rss+soakRSSSlack)
	for _, s := range samples[1:] {
		if s.rss > rssLimit {
			t.Errorf("RSS %s at %s; want at most %s (baseline %s)", mib(s.rss), s.at.Round(time.Second), mib(rssLimit), mib(base.rss))
		}
	}
	if got, want := end.goroutines, base.goroutines+soakGoroutineSlack; got > want {
		t.Errorf("goroutines at the end = %d; want at most %d (baseline %d + %d)", got, want, base.goroutines, soakGoroutineSlack)
	}
	if got, want := end.fds, base.fds+soakFDSlack; got > want {
		t.Errorf("open fds at the end = %d; want at most %d (baseline %d + %d)", got, want, base.fds, soakFDSlack)
	}
}

// command returns an operation that sends `/sanasend text` and waits for
// an answer containing want ("" for any final answer).
func command(text, want string) func(*soakRun) error {
	return func(r *soakRun) error {
		u := r.f.fake.NewResponseURL()
		slashCommand(r.t, r.f.base, "U0ALICE", "C0OPS", text, u)
		_, err := r.answer(u, want)
		return err
	}
}

// restart asks for a restart and confirms it with the prompt's button.
func (r *soakRun) restart() error {
	u := r.f.fake.NewResponseURL()
	slashCommand(r.t, r.f.base, "U0ALICE", "C0OPS", "restart", u)
	prompt, err := r.answer(u, "")
	if err != nil {
		return fmt.Errorf("prompt: %w", err)
	}
	token := fakeslack.ButtonValue(r.t, prompt, "sanasend_confirm")
	clickURL := r.f.fake.NewResponseURL()
	click(r.t, r.f.base, "U0ALICE", "C0OPS", "sanasend_confirm", token, clickURL)
	if _, err := r.answer(clickURL, "healthy"); err != nil {
		return fmt.Errorf("after the click: %w", err)
	}
	return nil
}

// crash SIGKILLs the service (node alone or its whole group, in turn),
// waits for the alert, acknowledges it, restarts the service from the
// alert's button and waits for the resolution.
func (r *soakRun) crash() error {
	pid, pgid, err := r.servicePID()
	if err != nil {
		return err
	}
	stopped, resolved := countAlerts(r.f.fake, "STOPPED"), countAlerts(r.f.fake, "resolved after")
	target := pid
	if r.crashes%2 == 0 {
		target = -pgid // the whole group: npm, sh, node, the browsers
	}
	r.crashes++
	if err := syscall.Kill(target, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %d: %w", target, err)
	}
	if err := r.until("an alert", func() bool { return countAlerts(r.f.fake, "STOPPED") > stopped }); err != nil {
		var seen []string
		for _, c := range r.f.fake.Calls("chat.postMessage") {
			seen = append(seen, c.Param("text"))
		}
		return fmt.Errorf("%w; alerts channel: %q", err, seen)
	}
	var alert fakeslack.Call
	for _, c := range r.f.fake.Calls("chat.postMessage") {
		if c.Param("channel") == "C0ALERTS" && strings.Contains(c.Param("text"), "STOPPED") {
			alert = c
		}
	}
	ackURL := r.f.fake.NewResponseURL()
	click(r.t, r.f.base, "U0ALICE", "C0ALERTS", "sanasend_ack", fakeslack.ButtonValue(r.t, alert.Blocks(), "sanasend_ack"), ackURL)
	if _, err := r.answer(ackURL, "acknowledged"); err != nil {
		return fmt.Errorf("acknowledgement: %w", err)
	}
	restartURL := r.f.fake.NewResponseURL()
	click(r.t, r.f.base, "U0ALICE", "C0ALERTS", "sanasend_confirm", fakeslack.ButtonValue(r.t, alert.Blocks(), "sanasend_confirm"), restartURL)
	if _, err := r.answer(restartURL, "healthy"); err != nil {
		return fmt.Errorf("restart from the alert: %w", err)
	}
	return r.until("the resolution", func() bool { return countAlerts(r.f.fake, "resolved after") > resolved })
}

// servicePID returns the PID of the stand-in's node process (`node
// src/server.js`, run by `npm start` in the service's dir) and its process
// group (npm's).
func (r *soakRun) servicePID() (pid, pgid int, err error) {
	dir := filepath.Join(filepath.Dir(r.f.configPath), "whatsapp-service")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		// node itself, not the sh that npm runs it with.
		argv := strings.Split(string(cmdline), "\x00")
		if filepath.Base(argv[0]) != "node" || !slices.Contains(argv, "src/server.js") {
			continue
		}
		if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || cwd != dir {
			continue
		}
		pgid, err := syscall.Getpgid(pid)
		if err != nil {
			continue
		}
		return pid, pgid, nil
	}
	return 0, 0, fmt.Errorf("no node process of the stand-in in %s", dir)
}

// answer waits for a final (not "⏳") post to response URL u containing
// want, and returns it.
func (r *soakRun) answer(u, want string) (map[string]any, error) {
	var got map[string]any
	err := r.until(fmt.Sprintf("an answer containing %q", want), func() bool {
		for _, p := range r.f.fake.ResponseURLPosts(u) {
			if text := messageText(p); !strings.Contains(text, "⏳") && strings.Contains(text, want) {
				got = p
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("%w; got %v", err, r.f.fake.ResponseURLPosts(u))
	}
	return got, nil
}

// until polls cond for soakOpTimeout.
func (r *soakRun) until(what string, cond func() bool) error {
	deadline := time.Now().Add(soakOpTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s within %s", what, soakOpTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// sample reads goroutines, RSS and open fds from the bot's /metrics. The
// bot runs in this process, so the figures include the fake Slack and the
// test; idle keep-alive connections are closed first, and the lowest of a
// few readings is kept, so that a connection closing meanwhile is not
// counted as growth.
func (r *soakRun) sample(label string, at time.Duration, ops int) soakSampleRow {
	r.t.Helper()
	http.DefaultClient.CloseIdleConnections()
	s := soakSampleRow{label: label, at: at, ops: ops, goroutines: -1}
	for range 5 {
		m := r.metrics()
		if g := int(m["go_goroutines"]); s.goroutines < 0 || g < s.goroutines {
			s.goroutines = g
		}
		if fd := int(m["process_open_fds"]); s.fds == 0 || fd < s.fds {
			s.fds = fd
		}
		s.rss = max(s.rss, int64(m["process_resident_memory_bytes"]))
		time.Sleep(200 * time.Millisecond)
	}
	return s
}

// metrics scrapes the bot's /metrics on a connection of its own.
func (r *soakRun) metrics() map[string]float64 {
	r.t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, r.f.base+"/metrics", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		r.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET /metrics: HTTP %d, %v", resp.StatusCode, err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch name {
		case "go_goroutines", "process_resident_memory_bytes", "process_open_fds":
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				r.t.Fatalf("/metrics: %q: %v", line, err)
			}
			out[name] = v
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_open_fds"} {
		if _, ok := out[name]; !ok {
			r.t.Fatalf("/metrics lacks %s", name)
		}
	}
	return out
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
