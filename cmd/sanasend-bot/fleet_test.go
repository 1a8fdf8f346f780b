//go:build !windows

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/fleet"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/internal/fakeslack"
	"github.com/sanasend/sanasend-bot/internal/syncbuf"
)

// The acceptance of issue 13 on real parts: a hub (`serve` with fleet:, its
// NATS server in-process on a loopback port) and agents (`agent`), each
// agent on its own copy of the real stand-in in its own dir.

// freePort is a loopback port nobody listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hubKey writes a hub signing key (an nkey user seed, 0600) in dir and
// returns its path and public key.
func hubKey(t testing.TB, dir string) (path, public string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	public, _ = kp.PublicKey()
	path = filepath.Join(dir, "hub.nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, public
}

// fleetAgent is one `sanasend-bot agent` process (in this test process),
// which a test stops and runs again over the same config and state dir.
type fleetAgent struct {
	host       string
	configPath string
	logs       *syncbuf.Buffer
	cancel     context.CancelFunc
	done       chan error
}

// newAgent writes an agent's config for a copy of the stand-in: host, the
// hub's NATS URL, the hub's public key, fleet keys of fleetExtra ("  key:
// value\n" lines), and a monitor checking every second. The cleanup stops
// the agent and the service.
func newAgent(t *testing.T, host, natsURL, hubPublic string, fleetExtra ...string) *fleetAgent {
	t.Helper()
	extra := fmt.Sprintf("state_dir: sanasend-state\nfleet:\n  host: %s\n  url: %s\n  hub_keys: [%s]\n  agent_timeout: 4s\n%s%s",
		host, natsURL, hubPublic, strings.Join(fleetExtra, ""), "monitor:\n  interval: 1s\n  timeout: 1s\n  failure_threshold: 2\n  restoration_timeout: 20s\n")
	a := &fleetAgent{host: host, configPath: demoCopyWith(t, extra), logs: &syncbuf.Buffer{}}
	t.Cleanup(func() {
		a.stop(t)
		stopService(t, a.configPath)
		if t.Failed() {
			t.Logf("agent %s log:\n%s", host, a.logs.String())
		}
	})
	return a
}

// start runs the agent.
func (a *fleetAgent) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() {
		a.done <- run(ctx, []string{"agent", "-config", a.configPath}, strings.NewReader(""), a.logs, a.logs)
	}()
}

// stop ends the agent (as SIGTERM does) and waits for it.
func (a *fleetAgent) stop(t *testing.T) {
	t.Helper()
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	if err := <-a.done; err != nil {
		t.Errorf("agent %s: %v", a.host, err)
	}
}

// mainPID is the pid of the agent's service as a manager of its own sees it.
func (a *fleetAgent) mainPID(t *testing.T) int32 {
	t.Helper()
	st, err := adoptService(t, a.configPath).Status(context.Background())
	if err != nil || len(st.Processes) == 0 {
		t.Fatalf("%s: status %v, %v", a.host, st.State, err)
	}
	return st.Processes[0].PID
}

// hubFixture writes the hub's serve config: its NATS server in-process on
// natsPort, the key at keyPath, agents alerted after 4 s of silence.
func hubFixture(t *testing.T, natsPort int, keyPath, extra string) (serveFixture, func() *botProcess) {
	t.Helper()
	return restartableServe(t, 0, fmt.Sprintf("fleet:\n  host: hub\n  embedded: true\n  listen: 127.0.0.1:%d\n  signing_key: %s\n  agent_timeout: 4s\n  failover: 2s\n",
		natsPort, keyPath)+extra)
}

// waitSlash types text until the answer contains want (the agents are
// found by the hub within a heartbeat), and returns that answer.
func waitSlash(t *testing.T, f serveFixture, text, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		u := f.fake.NewResponseURL()
		slashCommand(t, f.base, "U0ALICE", "C0OPS", text, u)
		post := f.fake.WaitResponseURLPosts(t, u, 1, 10*time.Second)
		got := messageText(post[len(post)-1])
		if strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q answered %q; want %q within %s", text, got, want, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// confirmed types a stop or restart and clicks its button; it returns the
// final answer, the one that contains want.
func confirmed(t *testing.T, f serveFixture, text, want string) map[string]any {
	t.Helper()
	promptURL := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", text, promptURL)
	prompt := f.fake.WaitResponseURLPosts(t, promptURL, 1, 10*time.Second)[0]
	token := fakeslack.ButtonValue(t, prompt, "sanasend_confirm")
	clickURL := f.fake.NewResponseURL()
	click(t, f.base, "U0ALICE", "C0OPS", "sanasend_confirm", token, clickURL)
	return waitPost(t, f.fake, clickURL, want, 60*time.Second)
}

// startFleet runs a hub and two agents (web-1, web-2) with their services
// started through the hub's Slack front end.
func startFleet(t *testing.T) (f serveFixture, agents map[string]*fleetAgent, natsURL string) {
	t.Helper()
	port := freePort(t)
	keyPath, pub := hubKey(t, t.TempDir())
	f, start := hubFixture(t, port, keyPath, "")
	start()
	natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	agents = map[string]*fleetAgent{}
	for _, host := range []string{"web-1", "web-2"} {
		a := newAgent(t, host, natsURL, pub)
		a.start(t)
		agents[host] = a
	}
	waitSlash(t, f, "hosts", "web-2", 30*time.Second)
	waitSlash(t, f, "hosts", "web-1", 30*time.Second)
	for _, host := range []string{"web-1", "web-2"} {
		u := f.fake.NewResponseURL()
		slashCommand(t, f.base, "U0ALICE", "C0OPS", "start "+host+"/whatsapp", u)
		waitPost(t, f.fake, u, "start "+host+"/whatsapp", 60*time.Second)
	}
	return f, agents, natsURL
}

// TestFleetRestartsTheRightHost: a restart typed in the hub's Slack for
// web-2/whatsapp restarts web-2's service and not web-1's; a stopped agent
// is offline at once in `status` and alerted after agent_timeout, and its
// return resolves the alert; a request to an agent signed by a key it does
// not trust is refused, changes nothing, and is audited on the agent.
func TestFleetRestartsTheRightHost(t *testing.T) {
	f, agents, natsURL := startFleet(t)
	pid1, pid2 := agents["web-1"].mainPID(t), agents["web-2"].mainPID(t)

	final := confirmed(t, f, "restart web-2/whatsapp", "restart web-2/whatsapp")
	if !strings.Contains(messageText(final), "healthy") {
		t.Errorf("outcome of the restart: %s; want healthy", messageText(final))
	}
	if got := agents["web-2"].mainPID(t); got == pid2 {
		t.Errorf("web-2's service kept pid %d: not restarted", pid2)
	}
	if got := agents["web-1"].mainPID(t); got != pid1 {
		t.Errorf("web-1's service went from pid %d to %d: the restart reached the wrong host", pid1, got)
	}
	status := waitSlash(t, f, "status", "web-2/whatsapp", 10*time.Second)
	if !strings.Contains(status, "web-1/whatsapp") {
		t.Errorf("status of every host: %q; want a line per host and service", status)
	}

	// Maintenance of web-2's service is its agent's monitor's.
	if got := waitSlash(t, f, "maintenance web-2/whatsapp 30m deploy", "muted until", 10*time.Second); !strings.Contains(got, "web-2/whatsapp") {
		t.Errorf("maintenance answered %q; want web-2/whatsapp muted", got)
	}
	waitLog(t, agents["web-2"].logs, `"verb":"maintenance","service":"whatsapp"`, 5*time.Second)
	waitSlash(t, f, "maintenance web-2/whatsapp off", "ended", 10*time.Second)

	// So are its recurring windows: added, listed and cancelled there.
	added := waitSlash(t, f, "maintenance web-2/whatsapp every sun 03:00 1h kernel updates", "added", 10*time.Second)
	if !strings.Contains(added, "maintenance window web-2/1 added by") || !strings.Contains(added, "web-2/whatsapp muted every sun 03:00 for 1h") {
		t.Errorf("maintenance every answered %q; want window web-2/1 of web-2/whatsapp", added)
	}
	waitLog(t, agents["web-2"].logs, `"verb":"windowadd","service":"whatsapp"`, 5*time.Second)
	list := waitSlash(t, f, "maintenance list", "web-2/1", 10*time.Second)
	if !strings.Contains(list, "web-2/1: every sun 03:00 for 1h, web-2/whatsapp") || strings.Contains(list, "web-1/1") {
		t.Errorf("maintenance list answered %q; want web-2's window alone", list)
	}
	cancelled := waitSlash(t, f, "maintenance cancel web-2/1", "cancelled", 10*time.Second)
	if !strings.Contains(cancelled, "maintenance window web-2/1 (every sun 03:00) cancelled by") {
		t.Errorf("maintenance cancel answered %q", cancelled)
	}
	waitLog(t, agents["web-2"].logs, `"verb":"windowcancel"`, 5*time.Second)
	if got := waitSlash(t, f, "maintenance list", "maintenance window", 10*time.Second); strings.Contains(got, "web-2/1") {
		t.Errorf("maintenance list after the cancel: %q", got)
	}
	if got := waitSlash(t, f, "maintenance cancel web-9/1", "✗", 10*time.Second); !strings.Contains(got, "no maintenance window web-9/1") {
		t.Errorf("cancel of another host's unknown window: %q", got)
	}

	// Uptime and incidents of web-2's service come from its agent's history.
	for _, cmd := range []string{"uptime web-2/whatsapp 24h", "incidents web-2/whatsapp"} {
		got := waitSlash(t, f, cmd, "web-2/whatsapp", 10*time.Second)
		if strings.Contains(got, "✗") {
			t.Errorf("%s answered %q", cmd, got)
		}
		t.Logf("%s: %.300q", cmd, got)
	}
	waitLog(t, agents["web-2"].logs, `"verb":"uptime","service":"whatsapp"`, 5*time.Second)

	// Forged: a client on the NATS network with a key of its own.
	forger, err := sign.NewSigner(newSeed(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := forger.Sign(sign.Request{Host: "web-2", Service: "whatsapp", Verb: "restart", Actor: sign.Actor{ID: "U0MALLORY", Name: "mallory"}})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	body, _ := json.Marshal(req)
	before := agents["web-2"].mainPID(t)
	reply, err := nc.Request(fleet.AgentSubject("web-2", "restart"), body, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := reply.Header.Get("Nats-Service-Error-Code"); code != "403" {
		t.Errorf("forged restart answered %q %s; want 403", code, reply.Data)
	}
	if strings.Contains(string(reply.Data), req.Sig) {
		t.Error("the refusal echoes the signature")
	}
	waitLog(t, agents["web-2"].logs, `"outcome":"refused"`, 5*time.Second)
	if got := agents["web-2"].mainPID(t); got != before {
		t.Errorf("the forged restart changed web-2's pid %d to %d", before, got)
	}

	// web-1's agent stops: offline at the next command, alerted later.
	stopped := time.Now()
	agents["web-1"].stop(t)
	u := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "status web-1/whatsapp", u)
	answer := messageText(f.fake.WaitResponseURLPosts(t, u, 1, 10*time.Second)[0])
	t.Logf("status of web-1 %v after its agent stopped: %q", time.Since(stopped).Round(time.Millisecond), answer)
	if !strings.Contains(answer, "web-1 is offline") {
		t.Errorf("status of web-1 after its agent stopped: %q; want offline at once", answer)
	}
	if got := waitSlash(t, f, "maintenance list", "maintenance window", 10*time.Second); !strings.Contains(got, "web-1 is offline since") ||
		!strings.Contains(got, "its maintenance windows are not listed") {
		t.Errorf("maintenance list with web-1's agent stopped: %q; want web-1 named as not listed", got)
	}
	alert := waitAlertsChannel(t, f.fake, "web-1's agent stopped reporting", 20*time.Second)
	t.Logf("agent stopped to the alert: %v (agent_timeout 4s)", alert.At.Sub(stopped).Round(time.Millisecond))
	// The silence counts from the last heartbeat, which came at most a
	// heartbeat interval (agent_timeout/4: 1s) before the stop.
	if d := alert.At.Sub(stopped); d < 3*time.Second {
		t.Errorf("the agent was alerted %v after it stopped; want agent_timeout (4s) after its last heartbeat (≤ 1s before the stop)", d)
	}
	agents["web-1"].start(t)
	waitAlertsChannel(t, f.fake, "web-1's agent is back", 20*time.Second)
	if n := countAlerts(f.fake, "web-1's agent stopped reporting"); n != 1 {
		t.Errorf("%d alerts of web-1's silence; want 1", n)
	}
}

// waitLog waits for want in a log.
func waitLog(t *testing.T, log *syncbuf.Buffer, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%q not in the log within %s", want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newSeed is a fresh nkey user seed.
func newSeed(t *testing.T) []byte {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	return seed
}

// TestFleetAlertQueuedWhileTheHubIsDown: web-2's service is killed while
// the hub is down, and web-2's agent is restarted meanwhile; when the hub
// is back the alert is delivered, once.
func TestFleetAlertQueuedWhileTheHubIsDown(t *testing.T) {
	port := freePort(t)
	keyPath, pub := hubKey(t, t.TempDir())
	f, start := hubFixture(t, port, keyPath, "")
	hubProc := start()
	a := newAgent(t, "web-2", fmt.Sprintf("nats://127.0.0.1:%d", port), pub)
	a.start(t)
	waitSlash(t, f, "hosts", "web-2", 30*time.Second)
	u := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "start web-2/whatsapp", u)
	waitPost(t, f.fake, u, "start web-2/whatsapp", 60*time.Second)

	hubProc.stop(t)
	killed := time.Now()
	procs, err := adoptService(t, a.configPath).Processes(context.Background())
	if err != nil || len(procs) == 0 {
		t.Fatalf("web-2's processes: %v, %v", procs, err)
	}
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(filepath.Dir(a.configPath), "sanasend-state", "fleet-facts")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if entries, _ := os.ReadDir(spool); len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fact spooled on web-2 within 20s of the kill")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.stop(t) // the agent restarts while the hub is down
	a.start(t)
	waitLog(t, a.logs, "NATS is away", 10*time.Second)

	start()
	alert := waitTopAlert(t, f.fake, "web-2/whatsapp is STOPPED", killed, 30*time.Second)
	t.Logf("the alert, delivered when the hub came back: %q", alert.Param("text"))
	// The spool empties once JetStream has the fact, and the hub has
	// delivered what it acknowledged: count after both.
	deadline = time.Now().Add(20 * time.Second)
	for {
		if entries, _ := os.ReadDir(spool); len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web-2's spool still holds facts 20s after the hub came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitSlash(t, f, "hosts", "web-2", 10*time.Second) // a round trip through the hub after the delivery
	t.Logf("alerts channel after the kill:\n%s", strings.Join(alertsSince(f.fake, killed), "\n"))
	if n := len(topAlerts(f.fake, "web-2/whatsapp is STOPPED", killed)); n != 1 {
		t.Errorf("%d alerts of web-2's outage; want exactly 1:\n%s", n, strings.Join(alertsSince(f.fake, killed), "\n"))
	}
}

// externalNATS runs a NATS server with JetStream on a loopback port for
// the test: the existing NATS that two hubs share (fleet.url).
func externalNATS(t *testing.T) string {
	t.Helper()
	e, err := fleet.NewEmbedded(fleet.EmbeddedConfig{StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:0", Name: "cluster-test",
		Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e.ClientURL()
}

// hubOn is the fleet: section of a hub named host on an existing NATS.
func hubOn(host, natsURL, keyPath string) string {
	return fmt.Sprintf("fleet:\n  host: %s\n  url: %s\n  signing_key: %s\n  agent_timeout: 4s\n  failover: 2s\n", host, natsURL, keyPath)
}

// tokenShared waits until a token's record is in the hubs' bucket.
func tokenShared(t *testing.T, natsURL, token string) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, fleet.TokensBucket)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(token))
	for {
		if _, err := kv.Get(ctx, "t."+hex.EncodeToString(sum[:])); err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("the prompt's token never reached the shared bucket")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFleetDoubleClickOnTwoHubsActsOnce: a restart prompt posted by hub A
// is confirmed on A and on B at the same moment: web-2 restarts once, and
// the other click is told the confirmation was used.
func TestFleetDoubleClickOnTwoHubsActsOnce(t *testing.T) {
	natsURL := externalNATS(t)
	keyPath, pub := hubKey(t, t.TempDir())
	a, startA := restartableServe(t, 0, hubOn("hub-a", natsURL, keyPath))
	b, startB := restartableServe(t, 0, hubOn("hub-b", natsURL, keyPath))
	startA()
	startB()
	agent := newAgent(t, "web-2", natsURL, pub)
	agent.start(t)
	waitSlash(t, a, "hosts", "web-2", 30*time.Second)
	waitSlash(t, b, "hosts", "web-2", 30*time.Second)
	u := a.fake.NewResponseURL()
	slashCommand(t, a.base, "U0ALICE", "C0OPS", "start web-2/whatsapp", u)
	waitPost(t, a.fake, u, "start web-2/whatsapp", 60*time.Second)
	before := agent.mainPID(t)

	promptURL := a.fake.NewResponseURL()
	slashCommand(t, a.base, "U0ALICE", "C0OPS", "restart web-2/whatsapp", promptURL)
	token := fakeslack.ButtonValue(t, a.fake.WaitResponseURLPosts(t, promptURL, 1, 10*time.Second)[0], "sanasend_confirm")
	tokenShared(t, natsURL, token)
	urls := []string{a.fake.NewResponseURL(), a.fake.NewResponseURL()}
	var wg sync.WaitGroup
	for i, hub := range []serveFixture{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); click(t, hub.base, "U0ALICE", "C0OPS", "sanasend_confirm", token, urls[i]) }()
	}
	wg.Wait()
	var answers []string
	for _, u := range urls {
		posts := a.fake.WaitResponseURLPosts(t, u, 1, 60*time.Second)
		answers = append(answers, messageText(posts[len(posts)-1]))
	}
	used := 0
	for _, s := range answers {
		if strings.Contains(s, "already used") {
			used++
		}
	}
	if used != 1 {
		t.Fatalf("answers to the two clicks: %q; want one told the confirmation was already used", answers)
	}
	// The winner's restart ends.
	for _, u := range urls {
		if !strings.Contains(strings.Join(answerTexts(a.fake, u), " "), "already used") {
			waitPost(t, a.fake, u, "restart web-2/whatsapp", 60*time.Second)
		}
	}
	if got := agent.mainPID(t); got == before {
		t.Errorf("web-2 kept pid %d: the confirmed restart did not happen", before)
	}
	if n := len(regexp.MustCompile(`"outcome":"ok"[^\n]*"verb":"restart"[^\n]*"message":"fleet request"`).FindAllString(agent.logs.String(), -1)); n != 1 {
		t.Errorf("web-2's agent audited %d restarts; want 1", n)
	}
}

// answerTexts are the texts posted to a response URL.
func answerTexts(fake *fakeslack.Server, u string) []string {
	var out []string
	for _, p := range fake.ResponseURLPosts(u) {
		out = append(out, messageText(p))
	}
	return out
}

// waitFileLog waits for want in a bot process's log file.
func waitFileLog(t *testing.T, path, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not in %s within %s", want, path, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// twoHubs runs two hub processes on one NATS, hub-a first (it leads) and
// hub-b, and web-2's agent, which hub-a knows when it returns. With
// oneSlack, hub-b uses hub-a's fake Slack (one workspace, as in
// production: b.fake is a.fake); else each has its own, to tell who posted.
func twoHubs(t *testing.T, oneSlack bool) (a, b *botHarness, agent *fleetAgent) {
	t.Helper()
	bin := buildBot(t)
	natsURL := externalNATS(t)
	keyPath, pub := hubKey(t, t.TempDir())
	a = newBotHarness(t, bin, hubOn("hub-a", natsURL, keyPath))
	a.start(t)
	waitFileLog(t, a.logPath, "this hub leads", 10*time.Second)
	b = newBotHarness(t, bin, hubOn("hub-b", natsURL, keyPath))
	if oneSlack {
		cfg := strings.Replace(readFile(t, b.configPath), "api_url: "+b.fake.APIURL(), "api_url: "+a.fake.APIURL(), 1)
		if !strings.Contains(cfg, a.fake.APIURL()) {
			t.Fatalf("no api_url to point at hub-a's Slack in hub-b's config:\n%s", cfg)
		}
		if err := os.WriteFile(b.configPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		b.fake = a.fake
	}
	b.start(t)
	agent = newAgent(t, "web-2", natsURL, pub)
	agent.start(t)
	waitSlash(t, a.serveFixture, "hosts", "web-2", 30*time.Second)
	return a, b, agent
}

// TestFleetLeaderHandOver: two hub processes on one NATS; the leader is
// killed (SIGKILL: no resignation, its key must expire); the other leads
// within fleet.failover and delivers the next alert, once.
func TestFleetLeaderHandOver(t *testing.T) {
	a, b, agent := twoHubs(t, false)
	u := a.fake.NewResponseURL()
	slashCommand(t, a.base, "U0ALICE", "C0OPS", "start web-2/whatsapp", u)
	waitPost(t, a.fake, u, "start web-2/whatsapp", 60*time.Second)
	waitTopAlert(t, a.fake, "session restoration of web-2/whatsapp", time.Time{}, 30*time.Second)

	a.stop(t, syscall.SIGKILL)
	killed := time.Now()
	waitFileLog(t, b.logPath, "this hub leads", 10*time.Second)
	took := time.Since(killed)
	t.Logf("leader killed to the other hub leading: %v (failover 2s)", took.Round(time.Millisecond))
	if took > 3*2*time.Second {
		t.Errorf("hand-over took %v; want within fleet.failover (2s), give or take a renewal", took)
	}

	procs, err := adoptService(t, agent.configPath).Processes(context.Background())
	if err != nil || len(procs) == 0 {
		t.Fatalf("web-2's processes: %v, %v", procs, err)
	}
	crashed := time.Now()
	if err := syscall.Kill(-int(procs[0].PGID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitTopAlert(t, b.fake, "web-2/whatsapp is STOPPED", crashed, 30*time.Second)
	waitSlash(t, b.serveFixture, "hosts", "web-2", 10*time.Second) // a round trip after the delivery
	if n := len(topAlerts(b.fake, "web-2/whatsapp is STOPPED", crashed)); n != 1 {
		t.Errorf("the new leader posted %d alerts of web-2's crash; want 1", n)
	}
	if n := len(topAlerts(a.fake, "web-2/whatsapp", crashed)); n != 0 {
		t.Errorf("the dead leader's Slack got %d alerts after its death", n)
	}
}

// TestFleetSilenceSurvivesAHandOver: an agent's silence alerted by the
// leading hub is resolved by the hub that took over after the leader died
// (it heard the silence too, under the same ID), in the alert's thread and
// on the alert itself (the leader shared where it posted it), and neither
// the alert nor its resolution is posted twice. The two hubs share one
// Slack, as in production.
func TestFleetSilenceSurvivesAHandOver(t *testing.T) {
	a, b, agent := twoHubs(t, true)
	waitSlash(t, b.serveFixture, "hosts", "web-2", 30*time.Second)

	agent.stop(t)
	alert := waitAlertsChannel(t, a.fake, "web-2's agent stopped reporting", 20*time.Second)
	a.stop(t, syscall.SIGKILL)
	waitFileLog(t, b.logPath, "this hub leads", 10*time.Second)
	agent.start(t)
	back := waitAlertsChannel(t, a.fake, "web-2's agent is back", 20*time.Second)
	t.Logf("resolution posted by the hub that took over: %q", back.Param("text"))
	if back.Param("thread_ts") != alert.TS {
		t.Errorf("the resolution went to thread %q; want the alert's, %q", back.Param("thread_ts"), alert.TS)
	}
	waitSlash(t, b.serveFixture, "hosts", "web-2", 10*time.Second) // a round trip after the delivery
	var edits []string
	for _, c := range a.fake.Calls("chat.update") {
		if c.Param("ts") == alert.TS {
			edits = append(edits, c.Param("text"))
		}
	}
	if len(edits) != 1 || !strings.Contains(edits[0], "is back") {
		t.Errorf("edits of the alert = %q; want one saying it is back", edits)
	}
	if n := countAlerts(a.fake, "stopped reporting"); n != 1 {
		t.Errorf("web-2's silence was posted %d times by the two hubs; want 1", n)
	}
	if n := countAlerts(a.fake, "is back"); n != 1 {
		t.Errorf("web-2's return was posted %d times by the two hubs; want 1", n)
	}
	if t.Failed() {
		t.Logf("the alerts channel:\n%s", strings.Join(alertsSince(a.fake, time.Time{}), "\n"))
	}
}

// TestFleetAgentKeysBoundToTheirHost: with agent_keys on the embedded hub,
// web-2's agent, whose key is bound to web-2, works as without (listed,
// started through Slack, its status, the alert of its crash); an agent
// that says it is web-3 with web-2's key is refused by NATS: never listed,
// never heard, and its log says why. A client with no key cannot connect.
func TestFleetAgentKeysBoundToTheirHost(t *testing.T) {
	port := freePort(t)
	keyPath, pub := hubKey(t, t.TempDir())
	web2Seed, web2Key := hubKey(t, t.TempDir()) // an nkey seed file, as for the hub
	f, start := hubFixture(t, port, keyPath, fmt.Sprintf("  agent_keys: [\"web-2=%s\"]\n", web2Key))
	start()
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	if nc, err := nats.Connect(natsURL, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client without a key connected to the hub's NATS")
	}

	web2 := newAgent(t, "web-2", natsURL, pub, "  credentials: "+web2Seed+"\n")
	web2.start(t)
	waitSlash(t, f, "hosts", "web-2", 30*time.Second)
	u := f.fake.NewResponseURL()
	slashCommand(t, f.base, "U0ALICE", "C0OPS", "start web-2/whatsapp", u)
	if got := messageText(waitPost(t, f.fake, u, "start web-2/whatsapp", 60*time.Second)); !strings.Contains(got, "healthy") {
		t.Errorf("start through the hub answered %q; want healthy", got)
	}
	waitSlash(t, f, "status web-2/whatsapp", "healthy", 10*time.Second)
	killed := killService(t, web2.configPath)
	waitTopAlert(t, f.fake, "web-2/whatsapp is STOPPED", killed, 30*time.Second)

	impostor := newAgent(t, "web-3", natsURL, pub, "  credentials: "+web2Seed+"\n")
	impostor.start(t)
	waitLog(t, impostor.logs, "NATS refused what this bot asked", 20*time.Second)
	// The hub found it, asked it on web-3's subjects, and left it out.
	waitLog(t, f.logs, "fleet: an agent says it is this host but does not answer on its subjects: not listed", 20*time.Second) // only web-3 can
	if got := waitSlash(t, f, "hosts", "web-2", 10*time.Second); strings.Contains(got, "web-3") {
		t.Errorf("hosts lists the impostor: %q", got)
	}
	if got := waitSlash(t, f, "status web-3/whatsapp", "✗", 10*time.Second); !strings.Contains(got, `unknown service \"web-3/whatsapp\"`) {
		t.Errorf("status web-3/whatsapp answered %q; want an unknown service", got)
	}
}

// TestFleetSocketModeFollowsTheLeader: two hubs in Socket Mode on one
// Slack: only the leader connects, the other's /healthz is 200 "standby"
// (a container's health check must not restart it); when the leader dies,
// the other connects and answers the next slash command.
func TestFleetSocketModeFollowsTheLeader(t *testing.T) {
	bin := buildBot(t)
	natsURL := externalNATS(t)
	keyPath, _ := hubKey(t, t.TempDir())
	a := newBotHarness(t, bin, hubOn("hub-a", natsURL, keyPath))
	b := newBotHarness(t, bin, hubOn("hub-b", natsURL, keyPath))
	for _, h := range []*botHarness{a, b} {
		cfg := strings.Replace(readFile(t, h.configPath), "slack:\n", "slack:\n  app_token: "+fakeslack.DefaultAppToken+"\n", 1)
		cfg = strings.Replace(cfg, "api_url: "+h.fake.APIURL(), "api_url: "+a.fake.APIURL(), 1)
		if err := os.WriteFile(h.configPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b.fake = a.fake
	health := func(h *botHarness) (int, string) {
		t.Helper()
		resp, err := http.Get(h.base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	a.start(t)
	waitFileLog(t, a.logPath, "this hub leads", 10*time.Second)
	a.fake.SocketConnected(t, 10*time.Second)
	b.start(t)
	if code, body := health(b); code != http.StatusOK || !strings.Contains(body, `"status":"standby"`) {
		t.Errorf("/healthz of the hub that does not lead = %d %s; want 200 standby", code, body)
	}
	if n := a.fake.SocketConnections(); n != 1 {
		t.Errorf("%d Socket Mode connections with one leader; want 1", n)
	}

	a.stop(t, syscall.SIGKILL)
	killed := time.Now()
	waitFileLog(t, b.logPath, "this hub leads", 10*time.Second)
	for a.fake.SocketConnections() < 2 {
		if time.Since(killed) > 15*time.Second {
			t.Fatalf("the new leader did not connect to Socket Mode within 15 s of the old one's death")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("leader killed to the other hub's Socket Mode connection: %v (failover 2s)", time.Since(killed).Round(time.Millisecond))
	a.fake.SocketConnected(t, 10*time.Second)
	env, u := a.fake.SlashCommand("/sanasend", "hosts", "U0ALICE", "C0OPS")
	a.fake.WaitAck(t, a.fake.SendEnvelope(t, env), 5*time.Second)
	if got := messageText(waitPost(t, a.fake, u, "online", 10*time.Second)); !strings.Contains(got, "hub-b") {
		t.Errorf("hosts over Socket Mode answered %q; want the new leader's host", got)
	}
	if code, body := health(b); code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/healthz of the new leader = %d %s; want 200 ok, connected", code, body)
	}
}

// TestCheckAgentConfig: `check` on an agent's config checks what `agent`
// needs (no Slack) and connects to the fleet's NATS.
func TestCheckAgentConfig(t *testing.T) {
	natsURL := externalNATS(t)
	_, pub := hubKey(t, t.TempDir())
	a := newAgent(t, "web-2", natsURL, pub)
	var out syncbuf.Buffer
	_ = run(context.Background(), []string{"check", "-config", a.configPath}, strings.NewReader(""), &out, &out)
	for _, want := range []string{"✓ agent web-2 of the hubs " + pub, "✓ fleet: connected to " + natsURL} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check of an agent's config:\n%s\nwant %q", out.String(), want)
		}
	}
	if strings.Contains(out.String(), "slack settings") {
		t.Errorf("check of an agent's config asks for Slack settings:\n%s", out.String())
	}
	bad := strings.Replace(readFile(t, a.configPath), natsURL, fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)), 1)
	if err := os.WriteFile(a.configPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var out2 syncbuf.Buffer
	err := run(context.Background(), []string{"check", "-config", a.configPath}, strings.NewReader(""), &out2, &out2)
	if err == nil || !strings.Contains(out2.String(), "✗ fleet: cannot connect to nats://127.0.0.1:") {
		t.Errorf("check with no NATS there: %v\n%s", err, out2.String())
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
