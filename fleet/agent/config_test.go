package agent

import (
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/sanasend/sanasend-bot/fleet/sign"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
)

type verifierFunc func(sign.Signed) (sign.Request, error)

func (f verifierFunc) Verify(s sign.Signed) (sign.Request, error) { return f(s) }

// NewServer refuses what it cannot serve, and does no I/O (a connection
// that is not connected is fine).
func TestNewServerValidates(t *testing.T) {
	nc := &nats.Conn{}
	v := verifierFunc(func(sign.Signed) (sign.Request, error) { return sign.Request{}, nil })
	wa := fakeservice.New("whatsapp")
	tests := []struct {
		name string
		cfg  Config
		want string // "" for no error
	}{
		{"ok", Config{Conn: nc, Host: "web-1", Services: []Service{wa}, Verifier: v}, ""},
		{"no conn", Config{Host: "web-1", Services: []Service{wa}, Verifier: v}, "connection"},
		{"no verifier", Config{Conn: nc, Host: "web-1", Services: []Service{wa}}, "verifier"},
		{"bad host", Config{Conn: nc, Host: "Web.1", Services: []Service{wa}, Verifier: v}, "host name"},
		{"no service", Config{Conn: nc, Host: "web-1", Verifier: v}, "no service"},
		{"nil service", Config{Conn: nc, Host: "web-1", Services: []Service{nil}, Verifier: v}, "nil"},
		{"twice", Config{Conn: nc, Host: "web-1", Services: []Service{wa, fakeservice.New("whatsapp")}, Verifier: v}, "two services"},
		{"bad name", Config{Conn: nc, Host: "web-1", Services: []Service{fakeservice.New("a,b")}, Verifier: v}, "service name"},
	}
	for _, tc := range tests {
		_, err := NewServer(tc.cfg)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: NewServer = %v; want %q", tc.name, err, tc.want)
		}
	}
}
