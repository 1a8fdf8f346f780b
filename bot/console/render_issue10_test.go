package console

import (
	"strings"
	"testing"

	"github.com/sanasend/sanasend-bot/bot/bottest"
)

// TestRenderSessionsGolden: issue 10's messages (sessions view, cleanup
// prompt and outcome, ps by session, the status line of sessions, stop
// and start outcomes) in console form.
func TestRenderSessionsGolden(t *testing.T) {
	for _, tc := range bottest.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			golden(t, tc.Name, Render(tc.Reply, bottest.Now))
		})
	}
}

// TestRenderSessionsWorstCase: 500 sessions with hostile IDs and causes of
// 2,000 bytes: every session is listed, each cause is quoted cut, and the
// flagged browsers are summed.
func TestRenderSessionsWorstCase(t *testing.T) {
	for _, tc := range bottest.WorstCases() {
		t.Run(tc.Name, func(t *testing.T) {
			out := Render(tc.Reply, bottest.Now)
			if out == "" {
				t.Fatal("nothing rendered")
			}
			for _, l := range strings.Split(out, "\n") {
				if len(l) > 8000 { // lists of names are capped at 10
					t.Errorf("a line of %d bytes: %.100q", len(l), l)
				}
			}
			if tc.Reply.Sessions != nil {
				for _, s := range tc.Reply.Sessions.Sessions {
					if !strings.Contains(out, "  "+s.ID+"  ") {
						t.Fatalf("session %.40q is not listed", s.ID)
					}
				}
			}
		})
	}
}
