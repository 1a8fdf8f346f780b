//go:build !windows

package threads

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/sanasend/sanasend-bot/delivery"
	"github.com/sanasend/sanasend-bot/internal/fleettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestShareAndLookUp: what one hub's store shares, another's finds, under
// IDs with any characters; an ID nobody shared is not found.
func TestShareAndLookUp(t *testing.T) {
	_, connect := fleettest.NATS(t)
	ctx := context.Background()
	store := func() *Store {
		js, err := jetstream.New(connect())
		if err != nil {
			t.Fatal(err)
		}
		kv, err := EnsureBucket(ctx, js, delivery.Retention)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(kv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := store(), store()
	landed := map[string]delivery.Landed{
		"web-2/incident-3":         {Channel: "C0ALERTS", TS: "1764900000.000100"},
		"host-web-2-down-17649000": {Channel: "C0ALERTS", TS: "1764900000.000200", Thread: "1764900000.000100"},
		"id with spaces & *.>":     {Channel: "C0OPS", TS: "1764900000.000300"},
	}
	for id, l := range landed {
		if err := a.Share(ctx, id, l); err != nil {
			t.Fatalf("Share(%q): %v", id, err)
		}
	}
	for id, want := range landed {
		got, ok, err := b.Lookup(ctx, id)
		if err != nil || !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v, %v; want %+v", id, got, ok, err, want)
		}
	}
	if got, ok, err := b.Lookup(ctx, "web-9/incident-1"); ok || err != nil {
		t.Errorf("Lookup of an ID nobody shared = %+v, %v, %v; want not found", got, ok, err)
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) accepted")
	}
}
