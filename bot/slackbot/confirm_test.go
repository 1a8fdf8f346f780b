package slackbot

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sanasend/sanasend-bot/bot"
	"github.com/sanasend/sanasend-bot/internal/fakeservice"
)

// TestDeadButtonsAfterARestart: the front end of a new bot process over the
// same state dir did not post the prompts of the one before. A click on a
// dead prompt's token still replaces that prompt with the reason; a click
// on a used token or on an alert's button is answered privately and leaves
// the message alone (an outcome, an alert); a live prompt's token works.
func TestDeadButtonsAfterARestart(t *testing.T) {
	f := newFrontFixture(t)
	path := filepath.Join(t.TempDir(), bot.ConfirmFile)
	open := func() *bot.Router {
		t.Helper()
		store, err := bot.OpenConfirmStore(bot.ConfirmConfig{Path: path, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		r, err := bot.NewRouter(bot.RouterConfig{Services: directory{fakeservice.Directory{f.svc}}, Auth: allowAll{},
			Confirms: store, Audit: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := open()
	f.front.router = before
	live := tokenOf(t, f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", "restart"), 1, 5*time.Second)[0])
	cancelled := tokenOf(t, f.fake.WaitResponseURLPosts(t, f.command(t, "U0ALICE", "stop"), 1, 5*time.Second)[0])
	if got := before.Cancel(context.Background(), bot.Request{User: blocksAlice}, cancelled); got.Kind != bot.KindCancelled {
		t.Fatalf("cancel = %s %q", got.Kind, got.Text)
	}
	store, err := bot.OpenConfirmStore(bot.ConfirmConfig{Path: path, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	alert := store.AlertToken("whatsapp-incident-3", "whatsapp")
	if _, err := store.EndAlert("whatsapp-incident-3"); err != nil {
		t.Fatal(err)
	}

	// The new process: a new store over the file, a new front end's
	// prompts (none).
	f.front.Wait()
	f.front.router = open()
	f.front.prompts = make(map[string]prompt)
	tests := []struct {
		name, user, token string
		replaced          bool
		want              string
	}{
		{"not the requester", "U0BOB", live, false, "only the person who asked"},
		{"cancelled", "U0ALICE", cancelled, true, "stop whatsapp: this confirmation was cancelled by alice"},
		{"forged", "U0ALICE", strings.Repeat("cd", 16), true, "not valid"},
		{"resolved alert", "U0ALICE", alert, false, "this alert is resolved"},
		{"live", "U0ALICE", live, true, "restart whatsapp by"},
		{"used", "U0ALICE", live, false, "already used by"},
	}
	for _, tc := range tests {
		url := f.click(t, tc.user, ActionConfirm, tc.token)
		var post map[string]any
		if tc.name == "live" {
			f.front.Wait()
			posts := f.fake.WaitResponseURLPosts(t, url, 1, 5*time.Second)
			post = posts[len(posts)-1]
		} else {
			post = f.fake.WaitResponseURLPosts(t, url, 1, 5*time.Second)[0]
		}
		text := postText(post)
		if replaced := post["replace_original"] == true && post["response_type"] != "ephemeral"; replaced != tc.replaced {
			t.Errorf("%s: replaced the message = %v; want %v (%s)", tc.name, replaced, tc.replaced, text)
		}
		if !strings.Contains(text, tc.want) || strings.Contains(text, ActionConfirm) {
			t.Errorf("%s: answered %s; want %q and no button", tc.name, text, tc.want)
		}
	}
	f.front.Wait()
	if calls := f.svc.Calls(); len(calls) != 1 || calls[0] != "restart by U0ALICE" {
		t.Errorf("calls = %v; want the one restart by alice", calls)
	}
}
