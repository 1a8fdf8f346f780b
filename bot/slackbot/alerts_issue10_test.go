package slackbot

import (
	"strings"
	"testing"

	"github.com/sanasend/sanasend-bot/alerts"
	"github.com/sanasend/sanasend-bot/alerts/alertstest"
	"github.com/sanasend/sanasend-bot/delivery"
)

// TestRestorationFollowUpIsThreaded: the late completion of a restoration
// whose summary timed out is a reply in that summary's thread, and so is
// its file when the sessions do not fit.
func TestRestorationFollowUpIsThreaded(t *testing.T) {
	var late, worst alerts.Notice
	for _, tc := range append(alertstest.Cases(), alertstest.WorstCases()...) {
		switch tc.Name {
		case "restoration-late":
			late = tc.Notice
		case "worst-restoration":
			worst = tc.Notice
		}
	}
	if late.Ref == "" || worst.Restoration == nil {
		t.Fatal("alertstest lacks the late follow-up or the worst restoration")
	}
	n, _ := alertsNotifier(t, nil)
	posts := n.posts(late)
	if len(posts) != 1 || posts[0].Op != delivery.OpReply || posts[0].Ref != late.Ref {
		t.Fatalf("posts = %+v; want one reply in the thread of %s", posts, late.Ref)
	}
	if text := posts[0].Message.Text; !strings.Contains(text, "completed late") || !strings.Contains(text, "0 restored, 5 failed") {
		t.Errorf("follow-up %q; want the late completion and its counts", text)
	}

	big := worst
	big.Ref = "whatsapp-restoration-first"
	s := *worst.Restoration
	s.Late = true
	big.Restoration = &s
	posts = n.posts(big)
	if len(posts) != 2 || posts[0].Op != delivery.OpReply || posts[1].Op != delivery.OpFile {
		t.Fatalf("posts = %+v; want a reply and a file", posts)
	}
	for _, p := range posts {
		if p.Ref != big.Ref {
			t.Errorf("%s %s: ref %q; want the first summary's thread %q", p.Op, p.ID, p.Ref, big.Ref)
		}
	}

	// A first summary is a post of its own, its file in its own thread.
	posts = n.posts(worst)
	if posts[0].Op != delivery.OpPost || posts[0].Ref != "" || posts[1].Ref != worst.ID {
		t.Errorf("first summary posts = %+v; want a post and a file in its thread", posts)
	}
}
