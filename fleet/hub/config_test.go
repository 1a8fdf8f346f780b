package hub

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/fleet/agent"
	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
)

// What an agent serves is what the bot asks of a service.
var _ agent.Service = bot.Service(nil)

type signerFunc func(sign.Request) (sign.Signed, error)

func (f signerFunc) Sign(r sign.Request) (sign.Signed, error) { return f(r) }

func TestNewValidates(t *testing.T) {
	nc := &nats.Conn{}
	s := signerFunc(func(sign.Request) (sign.Signed, error) { return sign.Signed{}, nil })
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{Conn: nc, Signer: s, Host: "hub-1", Local: []bot.Service{fakeservice.New("whatsapp")}}, ""},
		{"no local", Config{Conn: nc, Signer: s, Host: "hub-1"}, ""},
		{"no conn", Config{Signer: s, Host: "hub-1"}, "connection"},
		{"no signer", Config{Conn: nc, Host: "hub-1"}, "signer"},
		{"bad host", Config{Conn: nc, Signer: s, Host: "hub_1"}, "host name"},
		{"twice", Config{Conn: nc, Signer: s, Host: "hub-1", Local: []bot.Service{fakeservice.New("a"), fakeservice.New("a")}}, "two local"},
		{"bad name", Config{Conn: nc, Signer: s, Host: "hub-1", Local: []bot.Service{fakeservice.New("x/y")}}, "service name"},
		{"negative", Config{Conn: nc, Signer: s, Host: "hub-1", Timeout: -1}, "negative"},
	}
	for _, tc := range tests {
		_, err := New(tc.cfg)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: New = %v; want %q", tc.name, err, tc.want)
		}
	}
}

func TestJoinLast(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{{nil, ""}, {[]string{"a"}, "a"}, {[]string{"a", "b"}, "a or b"}, {[]string{"a", "b", "c"}, "a, b or c"}} {
		if got := orList(tc.in); got != tc.want {
			t.Errorf("orList(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
