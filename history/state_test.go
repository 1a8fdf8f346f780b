package history

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

func loadState(t *testing.T, s *Store, kind string) map[string]string {
	t.Helper()
	values, err := s.LoadState(context.Background(), kind)
	if err != nil {
		t.Fatalf("LoadState(%q) = %v", kind, err)
	}
	out := make(map[string]string, len(values))
	for k, v := range values {
		out[k] = string(v)
	}
	return out
}

// writtenState is kind as written in the file, pending changes left out.
func writtenState(t *testing.T, s *Store, kind string) map[string]string {
	t.Helper()
	values, err := s.readState(context.Background(), kind)
	if err != nil {
		t.Fatalf("read state %q: %v", kind, err)
	}
	out := make(map[string]string, len(values))
	for k, v := range values {
		out[k] = string(v)
	}
	return out
}

// TestStateReopenKeeps: puts, deletes and replacements, then Close at
// once (it writes what is pending), and a new Store over the file loads
// them; each kind is its own.
func TestStateReopenKeeps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, path, clock, nil)
	s.PutState("alert", "whatsapp", []byte(`{"last_id":3}`))
	s.PutState("alert", "other", []byte(`{"last_id":1}`))
	s.DeleteState("alert", "other")
	s.PutState("window", "1", []byte(`w1`))
	s.PutState("window", "2", []byte(`w2`))
	s.ReplaceState("window", map[string][]byte{"2": []byte(`w2'`), "3": []byte(`w3`)})
	s.PutState("window", "4", []byte(`w4`))
	s.PutState("token", "h1", []byte(`t1`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if h := s.Health(); h.Dropped != 0 || h.Queued != 0 {
		t.Fatalf("Health after Close = %+v; want nothing dropped or queued", h)
	}

	s2 := openTest(t, path, clock, nil)
	tests := []struct {
		kind string
		want map[string]string
	}{
		{"alert", map[string]string{"whatsapp": `{"last_id":3}`}},
		{"window", map[string]string{"2": `w2'`, "3": `w3`, "4": `w4`}},
		{"token", map[string]string{"h1": `t1`}},
		{"none", map[string]string{}},
	}
	for _, tt := range tests {
		if got := loadState(t, s2, tt.kind); !maps.Equal(got, tt.want) {
			t.Errorf("after reopen, LoadState(%q) = %v; want %v", tt.kind, got, tt.want)
		}
	}
}

// blockWriter holds the writer in a fact until the returned func is
// called, so that changes pile up behind it.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	held, free := make(chan struct{}), make(chan struct{})
	s.enqueue(func(context.Context, *sql.Tx) error { close(held); <-free; return nil })
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not take the blocking fact")
	}
	released := false
	release = func() {
		if !released {
			released = true
			close(free)
		}
	}
	t.Cleanup(release)
	return release
}

// TestStateCoalesces: while the writer is busy, a thousand changes of one
// key are one pending change, never blocking; LoadState already sees the
// last; the last is what is written.
func TestStateCoalesces(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clockwork.NewFakeClockAt(t0), func(o *Options) { o.QueueSize = 4 })
	release := blockWriter(t, s)
	var slowest time.Duration
	for i := range 1000 {
		begin := time.Now()
		s.PutState("alert", "whatsapp", []byte{byte(i), byte(i >> 8)})
		slowest = max(slowest, time.Since(begin))
	}
	s.PutState("alert", "other", []byte("x"))
	s.DeleteState("alert", "other")
	if h := s.Health(); h.Queued != 2 || h.Dropped != 0 {
		t.Errorf("Health with the writer busy = %+v; want 2 changes queued (one per key), none dropped", h)
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("slowest PutState took %s; it must not wait", slowest)
	}
	last := string([]byte{byte(999 & 0xff), byte(999 >> 8)})
	if got := loadState(t, s, "alert"); !maps.Equal(got, map[string]string{"whatsapp": last}) {
		t.Errorf("LoadState before the write = %q; want the last value only", got)
	}
	if got := writtenState(t, s, "alert"); len(got) != 0 {
		t.Errorf("written before the writer was free: %q", got)
	}
	release()
	waitWritten(t, s)
	if got := writtenState(t, s, "alert"); !maps.Equal(got, map[string]string{"whatsapp": last}) {
		t.Errorf("written = %q; want the last value only", got)
	}
}

// TestStateFullDiskNeverBlocks: the database at its size limit (the error
// of a full disk) refuses a state change: PutState returns at once, the
// change stays pending (never dropped), later changes coalesce over it,
// Health says why, and the last value is written once there is room.
func TestStateFullDiskNeverBlocks(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clock, func(o *Options) { o.QueueSize = 8 })
	s.PutState("alert", "whatsapp", []byte("v0"))
	waitWritten(t, s)
	var pages int
	if err := s.wdb.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}

	big := bytes.Repeat([]byte("x"), 64<<10) // needs pages the file may not have
	var slowest time.Duration
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; !s.Health().Failing; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the state write never failed: %+v", s.Health())
		}
		begin := time.Now()
		s.PutState("alert", "whatsapp", append(big, byte(i)))
		slowest = max(slowest, time.Since(begin))
		time.Sleep(time.Millisecond)
	}
	for i := range 100 { // more, on other keys and this one, while failing
		begin := time.Now()
		s.PutState("window", "1", []byte{byte(i)})
		s.PutState("alert", "whatsapp", []byte("final"))
		slowest = max(slowest, time.Since(begin))
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("slowest PutState took %s; it must not wait on the disk", slowest)
	}
	h := s.Health()
	if !strings.Contains(h.LastError, "disk is full") || h.Dropped != 0 || h.Queued != 2 {
		t.Fatalf("Health while full = %+v; want 'disk is full', 2 changes queued, none dropped", h)
	}
	if got := writtenState(t, s, "alert"); got["whatsapp"] != "v0" {
		t.Fatalf("written while full = %.20q; want the value before", got["whatsapp"])
	}

	if _, err := s.wdb.Exec(`PRAGMA max_page_count = 1000000`); err != nil {
		t.Fatal(err)
	}
	for s.Health().Failing || s.Health().Queued > 0 {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("state not written after the limit was raised: %+v", s.Health())
		}
		clock.Advance(backoffMax)
		time.Sleep(time.Millisecond)
	}
	waitWritten(t, s)
	if got := writtenState(t, s, "alert"); !maps.Equal(got, map[string]string{"whatsapp": "final"}) {
		t.Errorf("alert state written after recovery = %.40q; want final", got)
	}
	if got := writtenState(t, s, "window"); !maps.Equal(got, map[string]string{"1": string([]byte{99})}) {
		t.Errorf("window state written after recovery = %q; want the last value", got)
	}
}

// TestStateOfOtherKindsIgnored: keys of a kind this build does not know
// (a newer build's) are neither loaded as another kind nor removed by a
// replacement of one; they survive.
func TestStateOfOtherKindsIgnored(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clockwork.NewFakeClockAt(t0), nil)
	if _, err := s.wdb.Exec(`INSERT INTO state (kind, key, value, updated_at) VALUES ('alert.v2', 'whatsapp', x'00ff', 1)`); err != nil {
		t.Fatal(err)
	}
	s.PutState("alert", "whatsapp", []byte("mine"))
	s.ReplaceState("window", nil)
	waitWritten(t, s)
	if got := loadState(t, s, "alert"); !maps.Equal(got, map[string]string{"whatsapp": "mine"}) {
		t.Errorf("LoadState(alert) = %q; want this build's only", got)
	}
	s.ReplaceState("alert", map[string][]byte{"other": []byte("o")})
	waitWritten(t, s)
	if got := writtenState(t, s, "alert.v2"); !maps.Equal(got, map[string]string{"whatsapp": "\x00\xff"}) {
		t.Errorf("the newer kind after a replacement of another = %q; want it untouched", got)
	}
	if got := writtenState(t, s, "alert"); !maps.Equal(got, map[string]string{"other": "o"}) {
		t.Errorf("alert after ReplaceState = %q; want only other", got)
	}
}

// TestImportState: the import writes every kind in one transaction, only
// when none of them has a key yet.
func TestImportState(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clockwork.NewFakeClockAt(t0), nil)
	ctx := context.Background()
	docs := map[string]map[string][]byte{
		"alert":  {"whatsapp": []byte("a")},
		"token":  {"h1": []byte("t1"), "h2": []byte("t2")},
		"window": {},
	}
	if ok, err := s.ImportState(ctx, docs); !ok || err != nil {
		t.Fatalf("ImportState into an empty store = %v, %v; want true", ok, err)
	}
	if got := loadState(t, s, "token"); !maps.Equal(got, map[string]string{"h1": "t1", "h2": "t2"}) {
		t.Errorf("tokens after the import = %q", got)
	}
	again := map[string]map[string][]byte{"alert": {"whatsapp": []byte("b")}, "window": {"1": []byte("w")}}
	if ok, err := s.ImportState(ctx, again); ok || err != nil {
		t.Fatalf("ImportState over existing state = %v, %v; want false", ok, err)
	}
	if got := loadState(t, s, "window"); len(got) != 0 {
		t.Errorf("a refused import wrote %q", got)
	}
	if got := loadState(t, s, "alert"); got["whatsapp"] != "a" {
		t.Errorf("a refused import changed alert: %q", got)
	}
}

func TestStateAfterCloseDrops(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "h.db"), clockwork.NewFakeClockAt(t0), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.PutState("alert", "whatsapp", []byte("late"))
	s.ReplaceState("window", nil)
	if got := s.Health().Dropped; got != 2 {
		t.Fatalf("Dropped after changes on a closed store = %d; want 2", got)
	}
}
