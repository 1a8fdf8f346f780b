package fleet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startEmbedded starts an embedded server for t on dir; cleanup shuts it
// down.
func startEmbedded(t *testing.T, dir, listen string) *Embedded {
	t.Helper()
	e, err := NewEmbedded(EmbeddedConfig{StoreDir: dir, Listen: listen, Name: "hub-test", Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func TestNewEmbeddedValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  EmbeddedConfig
		want string
	}{
		{"relative store", EmbeddedConfig{StoreDir: "nats"}, `store dir "nats" is not an absolute path`},
		{"bad listen", EmbeddedConfig{StoreDir: "/x", Listen: "4222"}, `listen "4222"`},
		{"bad port", EmbeddedConfig{StoreDir: "/x", Listen: "127.0.0.1:99999"}, "bad port"},
		{"in-process", EmbeddedConfig{StoreDir: "/x"}, ""},
		{"loopback", EmbeddedConfig{StoreDir: "/x", Listen: "127.0.0.1:0"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewEmbedded(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v; want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
			if _, serr := os.Stat("/x"); err == nil && serr == nil {
				t.Fatal("NewEmbedded made its store dir: it must touch no file")
			}
		})
	}
}

// TestEmbeddedKeyValueCreateIsSingleUse: in-process, JetStream on the
// store dir; a key-value Create of a key that exists fails, which is what
// makes a confirmation token single-use across hubs; the bucket survives a
// restart of the server on the same dir.
func TestEmbeddedKeyValueCreateIsSingleUse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	e := startEmbedded(t, dir, "")
	if e.ClientURL() != "" {
		t.Errorf("ClientURL = %q for a server that listens nowhere", e.ClientURL())
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("store dir: %v, %v; want a 0700 dir", fi, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "tokens", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "t1", []byte("restart whatsapp")); err != nil {
		t.Fatalf("first create: %v", err)
	}
	if _, err := kv.Create(ctx, "t1", []byte("again")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("second create: %v; want ErrKeyExists", err)
	}
	nc.Close()
	e.Shutdown()

	again := startEmbedded(t, dir, "")
	nc2, err := nats.Connect("", nats.InProcessServer(again.Server()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, err := jetstream.New(nc2)
	if err != nil {
		t.Fatal(err)
	}
	kv2, err := js2.KeyValue(ctx, "tokens")
	if err != nil {
		t.Fatalf("bucket after a restart: %v", err)
	}
	if got, err := kv2.Get(ctx, "t1"); err != nil || string(got.Value()) != "restart whatsapp" {
		t.Fatalf("t1 after a restart = %v, %v", got, err)
	}
}

// TestEmbeddedListensOnLoopback: with a listen address agents connect
// over TCP, to the port the server picked.
func TestEmbeddedListensOnLoopback(t *testing.T) {
	e := startEmbedded(t, filepath.Join(t.TempDir(), "nats"), "127.0.0.1:0")
	url := e.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("ClientURL = %q; want a loopback URL with the picked port", url)
	}
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("hello")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("hello", []byte("web-2")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(msg.Data) != "web-2" {
		t.Fatalf("message = %v, %v", msg, err)
	}
}

// TestEmbeddedUsersOnly: with Users, a client without one of their keys
// cannot connect; one with a key can.
func TestEmbeddedUsersOnly(t *testing.T) {
	agent, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := agent.PublicKey()
	seed, _ := agent.Seed()
	e, err := NewEmbedded(EmbeddedConfig{StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:0", Name: "hub-test",
		Users: []string{pub}, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	if nc, err := nats.Connect(e.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client without a key connected")
	} else if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("refusal = %v; want an authorization error", err)
	}
	seedFile := filepath.Join(t.TempDir(), "agent.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	opt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(e.ClientURL(), opt)
	if err != nil {
		t.Fatalf("the agent's key: %v", err)
	}
	nc.Close()
}

// TestEmbeddedAgentPermissions: an agent's key bound to web-2 may publish
// web-2's heartbeats and facts (into the stream, with its
// acknowledgement) but not web-3's, may not receive web-3's endpoint
// requests, and cannot read the hubs' buckets; the hub's key can do all.
func TestEmbeddedAgentPermissions(t *testing.T) {
	user := func() (pub string, opt nats.Option) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ = kp.PublicKey()
		seed, _ := kp.Seed()
		file := filepath.Join(t.TempDir(), "key.nk")
		if err := os.WriteFile(file, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		opt, err = nats.NkeyOptionFromSeed(file)
		if err != nil {
			t.Fatal(err)
		}
		return pub, opt
	}
	hubPub, hubOpt := user()
	agentPub, agentOpt := user()
	e, err := NewEmbedded(EmbeddedConfig{StoreDir: filepath.Join(t.TempDir(), "nats"), Name: "hub-test",
		Users: []string{hubPub}, Agents: []AgentUser{{Key: agentPub, Host: "web-2"}}, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	hub, err := nats.Connect("", nats.InProcessServer(e.Server()), hubOpt)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	hjs, _ := jetstream.New(hub)
	if _, err := hjs.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: FactsStream, Subjects: []string{FactsSubjects}}); err != nil {
		t.Fatal(err)
	}
	kv, err := hjs.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: TokensBucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "t.1", []byte("restart web-2/whatsapp")); err != nil {
		t.Fatal(err)
	}
	beats, err := hub.SubscribeSync(HeartbeatSubjects)
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Flush(); err != nil {
		t.Fatal(err)
	}

	violations := make(chan string, 16)
	agent, err := nats.Connect("", nats.InProcessServer(e.Server()), agentOpt,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err.Error() }))
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	waitViolation := func(what string) {
		t.Helper()
		select {
		case v := <-violations:
			if !strings.Contains(strings.ToLower(v), "permissions violation") {
				t.Errorf("%s: error %q; want a permissions violation", what, v)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no permissions violation", what)
		}
	}

	// Its own host's heartbeat arrives; another host's is refused.
	for _, host := range []string{"web-3", "web-2"} {
		if err := agent.Publish(HeartbeatSubject(host), []byte(host)); err != nil {
			t.Fatal(err)
		}
	}
	waitViolation("heartbeat of web-3")
	msg, err := beats.NextMsg(10 * time.Second)
	if err != nil || msg.Subject != HeartbeatSubject("web-2") {
		t.Fatalf("first heartbeat at the hub = %v, %v; want web-2's alone (web-3's came first and was refused)", msg, err)
	}

	// Its facts go into the stream and are acknowledged; another host's
	// are refused.
	ajs, _ := jetstream.New(agent)
	if _, err := ajs.Publish(ctx, FactsSubject("web-2"), []byte(`{"id":"1"}`)); err != nil {
		t.Errorf("web-2's fact: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	if _, err := ajs.Publish(short, FactsSubject("web-3"), []byte(`{"id":"2"}`)); err == nil {
		t.Error("a fact of web-3 published by web-2's agent")
	}
	cancelShort()
	waitViolation("fact of web-3")

	// Its own endpoints; not another host's.
	if _, err := agent.SubscribeSync(AgentSubject("web-2", "restart")); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.SubscribeSync(AgentSubject("web-3", "restart")); err != nil {
		t.Fatal(err)
	}
	waitViolation("web-3's endpoint")

	// Not the hubs' buckets.
	short, cancelShort = context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := ajs.KeyValue(short, TokensBucket); err == nil {
		t.Error("web-2's agent opened the tokens bucket")
	}
	if got, err := kv.Get(ctx, "t.1"); err != nil || string(got.Value()) != "restart web-2/whatsapp" {
		t.Errorf("the hub's token = %v, %v", got, err)
	}
}
