package whatsapp

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// at parses "2006-01-02 15:04:05" in local time, as the service writes it.
func restAt(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, time.Local)
	if err != nil {
		t.Fatalf("restAt(%q): %v", s, err)
	}
	return tm
}

func restFmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000")
}

// dumpRestoration renders every field, one session a line, so that a failing
// comparison shows what differs.
func dumpRestoration(r Restoration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ServiceStarted=%s StartedAt=%s Found=%d\n", restFmtTime(r.ServiceStarted), restFmtTime(r.StartedAt), r.Found)
	fmt.Fprintf(&b, "Complete=%v Restored=%d Failed=%d Total=%d CompletedAt=%s\n", r.Complete, r.Restored, r.Failed, r.Total, restFmtTime(r.CompletedAt))
	fmt.Fprintf(&b, "Error=%q Truncated=%v\n", r.Error, r.Truncated)
	for _, o := range r.Sessions {
		fmt.Fprintf(&b, "  %s instance=%q %s cause=%q connection=%q at=%s\n", o.ID, o.Instance, o.Result, o.Cause, o.Connection, restFmtTime(o.At))
	}
	return b.String()
}

func checkRestoration(t *testing.T, what string, got, want Restoration) {
	t.Helper()
	if g, w := dumpRestoration(got), dumpRestoration(want); g != w {
		t.Errorf("%s =\n%s\nwant\n%s", what, g, w)
	}
}

type restorationFixture struct {
	name   string
	want   Restoration
	wantOK bool
}

func restorationFixtures(t *testing.T) []restorationFixture {
	day := func(s string) time.Time { return restAt(t, "2026-11-28 "+s) }
	completeSessions := []SessionOutcome{
		{ID: "user_12_instance_main", Instance: "main", Result: SessionRestored, Connection: ConnectionReady, At: day("14:10:04")},
		{ID: "user_31_instance_sales", Instance: "sales", Result: SessionFailed, Cause: "undefined", At: day("14:10:34")},
		{ID: "user_40_instance_support", Instance: "support", Result: SessionError, Cause: "Protocol error (Target.setAutoAttach): Target closed.", At: day("14:10:35")},
		{ID: "user_7_instance_main", Instance: "main", Result: SessionRestored, Connection: ConnectionQR, At: day("14:10:41")},
		{ID: "user_9_instance_ops", Instance: "ops", Result: SessionRestored, At: day("14:10:47")},
	}
	incompleteSessions := append([]SessionOutcome(nil), completeSessions[:3]...)
	incompleteSessions = append(incompleteSessions,
		SessionOutcome{ID: "user_7_instance_main", Instance: "main", Result: SessionRestoring, At: day("14:10:35")})
	return []restorationFixture{
		{
			name: "complete",
			want: Restoration{
				ServiceStarted: day("14:09:53"), StartedAt: day("14:09:58"), Found: 5,
				Sessions: completeSessions, Complete: true, Restored: 3, Failed: 2, Total: 5,
				CompletedAt: day("14:10:47"),
			},
			wantOK: true,
		},
		{
			name: "incomplete",
			want: Restoration{
				ServiceStarted: day("14:09:53"), StartedAt: day("14:09:58"), Found: 5,
				Sessions: incompleteSessions, Restored: 1, Failed: 2, Total: -1,
			},
			wantOK: true,
		},
		{
			name: "django_down",
			want: Restoration{
				ServiceStarted: restAt(t, "2026-11-29 09:00:01"), StartedAt: restAt(t, "2026-11-29 09:00:06"), Found: -1,
				Total: 0, Error: "connect ECONNREFUSED 127.0.0.1:8000", CompletedAt: restAt(t, "2026-11-29 09:00:06"),
			},
			wantOK: true,
		},
		{
			name: "two_restarts",
			want: Restoration{
				ServiceStarted: day("08:15:01"), StartedAt: day("08:15:06"), Found: 2,
				Sessions: []SessionOutcome{
					{ID: "user_3_instance_main", Instance: "main", Result: SessionRestored, Connection: ConnectionReady, At: day("08:15:11")},
					{ID: "user_5_instance_shop", Instance: "shop", Result: SessionRestored, Connection: ConnectionReady, At: day("08:15:17")},
				},
				Complete: true, Restored: 2, Failed: 0, Total: 2, CompletedAt: day("08:15:17"),
			},
			wantOK: true,
		},
		{
			name: "truncated",
			want: Restoration{
				Found: 3, // from the result line's total
				Sessions: []SessionOutcome{
					{ID: "user_12_instance_main", Result: SessionRestored, Connection: ConnectionReady, At: day("14:10:04")},
					{ID: "user_31_instance_sales", Instance: "sales", Result: SessionFailed, Cause: "undefined", At: day("14:10:34")},
					{ID: "user_7_instance_main", Instance: "main", Result: SessionRestored, At: day("14:10:41")},
				},
				Complete: true, Restored: 2, Failed: 1, Total: 3, CompletedAt: day("14:10:41"), Truncated: true,
			},
			wantOK: true,
		},
	}
}

func TestLastRestorationFixtures(t *testing.T) {
	for _, fx := range restorationFixtures(t) {
		for _, format := range []string{"json", "text"} {
			t.Run(fx.name+"/"+format, func(t *testing.T) {
				path := filepath.Join("testdata", "restoration", fx.name+"."+format+".log")
				got, ok, err := LastRestoration(path)
				if err != nil || ok != fx.wantOK {
					t.Fatalf("LastRestoration(%s) = ok %v, err %v; want ok %v, no error", path, ok, err, fx.wantOK)
				}
				checkRestoration(t, "LastRestoration("+path+")", got, fx.want)
			})
		}
	}
}

// The result must not depend on where the backward reads cut the file.
func TestLastRestorationChunkSizes(t *testing.T) {
	for _, fx := range restorationFixtures(t) {
		for _, format := range []string{"json", "text"} {
			path := filepath.Join("testdata", "restoration", fx.name+"."+format+".log")
			for _, chunk := range []int64{1, 2, 7, 64, 333, 4096} {
				got, ok, err := lastRestoration(path, chunk, restorationMaxBack)
				if err != nil || !ok {
					t.Fatalf("lastRestoration(%s, chunk %d) = ok %v, err %v", path, chunk, ok, err)
				}
				checkRestoration(t, fmt.Sprintf("lastRestoration(%s, chunk %d)", path, chunk), got, fx.want)
			}
		}
	}
}

func restReadFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "restoration", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func restWriteTemp(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "combined.log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Stack lines far longer than 64 KiB, and one longer than the 1 MiB line cap,
// must not break the reading.
func TestLastRestorationLongLines(t *testing.T) {
	fx := restorationFixtures(t)[0] // complete
	src := restReadFixture(t, "complete.json.log")
	big := func(n int) []byte {
		stack := "Error: unhandled rejection\\n" + strings.Repeat("    at Object.<anonymous> (/srv/sanasend/whatsapp-service/src/x.js:1:2)\\n", n/70)
		return []byte(`{"level":"error","message":"Unhandled rejection","service":"whatsapp-service","stack":"` + stack + `","timestamp":"2026-11-28 14:10:40"}` + "\n")
	}
	var out []byte
	for _, line := range bytes.SplitAfter(src, []byte("\n")) {
		if bytes.Contains(line, []byte("✓ Session restored: user_7_instance_main")) {
			out = append(out, big(300<<10)...)
			out = append(out, big(restorationMaxLine+256<<10)...)
		}
		out = append(out, line...)
	}
	path := restWriteTemp(t, out)
	got, ok, err := LastRestoration(path)
	if err != nil || !ok {
		t.Fatalf("LastRestoration = ok %v, err %v; want ok", ok, err)
	}
	checkRestoration(t, "LastRestoration(long lines)", got, fx.want)

	// A long line that is itself a restoration line is read whole.
	stack := strings.Repeat("    at f (/srv/x.js:1:2)\\n", 200<<10/25)
	line := `{"level":"error","message":"✗ Error restoring session user_1_instance_a: Evaluation failed: boom","stack":"Error: Evaluation failed: boom\n` + stack + `","timestamp":"2026-11-28 14:10:40"}` + "\n"
	path = restWriteTemp(t, []byte("2026-11-28 14:10:00 info: Starting session restoration...\n"+line))
	got, ok, err = LastRestoration(path)
	if err != nil || !ok || len(got.Sessions) != 1 || got.Sessions[0].Cause != "Evaluation failed: boom" {
		t.Fatalf("LastRestoration(200 KiB error line) = %s, %v, %v; want user_1_instance_a with its cause", dumpRestoration(got), ok, err)
	}
}

func TestLastRestorationCap(t *testing.T) {
	src := restReadFixture(t, "complete.json.log")
	health := []byte(`{"level":"info","message":"GET /health","service":"whatsapp-service","timestamp":"2026-11-28 15:00:00"}` + "\n")

	// The block is more than maxBack from the end, with only health polls after it.
	data := append([]byte(nil), src...)
	for range 2000 {
		data = append(data, health...)
	}
	path := restWriteTemp(t, data)
	if got, ok, err := lastRestoration(path, 4096, 64<<10); err != nil || ok {
		t.Errorf("lastRestoration(block beyond the cap) = %s, %v, %v; want ok=false, no error", dumpRestoration(got), ok, err)
	}
	// The whole file is read when the cap allows it.
	if got, ok, err := lastRestoration(path, 4096, 1<<20); err != nil || !ok || got.Found != 5 {
		t.Errorf("lastRestoration(block within the cap) = %s, %v, %v; want the block", dumpRestoration(got), ok, err)
	}

	// The cap cuts the block: what is within it comes back as Truncated.
	i := bytes.Index(src, []byte("Restoring session: user_9_instance_ops"))
	i = bytes.LastIndexByte(src[:i], '\n') + 1
	path = restWriteTemp(t, src)
	got, ok, err := lastRestoration(path, 100, int64(len(src)-i))
	if err != nil || !ok {
		t.Fatalf("lastRestoration(cut block) = ok %v, err %v; want ok", ok, err)
	}
	if !got.Truncated || !got.Complete || got.Restored != 3 || got.Failed != 2 || len(got.Sessions) != 1 {
		t.Errorf("lastRestoration(cut block) = %s; want a truncated complete block with user_9 only", dumpRestoration(got))
	}
}

func TestLastRestorationNoBlock(t *testing.T) {
	for _, data := range []string{
		"",
		"2026-11-28 14:00:00 info: GET /health\n",
		`{"level":"info","message":"Client user_1_instance_a is ready","timestamp":"2026-11-28 14:00:00"}` + "\n",
	} {
		got, ok, err := LastRestoration(restWriteTemp(t, []byte(data)))
		if err != nil || ok {
			t.Errorf("LastRestoration(%q) = %s, %v, %v; want ok=false, no error", data, dumpRestoration(got), ok, err)
		}
	}
	_, _, err := LastRestoration(filepath.Join(t.TempDir(), "missing.log"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LastRestoration(missing) error = %v; want fs.ErrNotExist", err)
	}
	if _, _, err := LastRestoration(t.TempDir()); err == nil {
		t.Errorf("LastRestoration(dir) error = nil; want an error")
	}
}

// "running on port" is kept with the block that follows it even when the
// last marker found backwards is "Starting".
func TestLastRestorationKeepsServiceStart(t *testing.T) {
	var b strings.Builder
	b.WriteString("2026-11-28 14:00:00 info: WhatsApp Service running on port 3000\n")
	for range 500 {
		b.WriteString("2026-11-28 14:00:01 info: GET /health\n")
	}
	b.WriteString("2026-11-28 14:00:05 info: Initiating session restoration...\n")
	b.WriteString("2026-11-28 14:00:05 info: Starting session restoration...\n")
	b.WriteString("2026-11-28 14:00:05 info: Found 0 sessions to restore\n")
	b.WriteString("2026-11-28 14:00:05 info: Session restoration complete: 0 restored, 0 failed\n")
	got, ok, err := lastRestoration(restWriteTemp(t, []byte(b.String())), 512, restorationMaxBack)
	want := Restoration{
		ServiceStarted: restAt(t, "2026-11-28 14:00:00"), StartedAt: restAt(t, "2026-11-28 14:00:05"),
		Found: 0, Complete: true, Total: -1, CompletedAt: restAt(t, "2026-11-28 14:00:05"),
	}
	if err != nil || !ok {
		t.Fatalf("lastRestoration = ok %v, err %v", ok, err)
	}
	checkRestoration(t, "lastRestoration", got, want)
}

func TestRestorationParser(t *testing.T) {
	ts := func(s string) time.Time { return restAt(t, "2026-11-28 "+s) }
	tests := []struct {
		name  string
		lines []string
		want  Restoration
		seen  bool
	}{
		{
			name: "nothing",
			want: Restoration{Found: -1, Total: -1},
		},
		{
			name:  "running, initiating and starting are one block",
			lines: []string{"2026-11-28 10:00:00 info: WhatsApp Service running on port 3000", "2026-11-28 10:00:05 info: Initiating session restoration...", "2026-11-28 10:00:06 info: Starting session restoration..."},
			want:  Restoration{ServiceStarted: ts("10:00:00"), StartedAt: ts("10:00:05"), Found: -1, Total: -1},
			seen:  true,
		},
		{
			name: "a second Starting begins a new block",
			lines: []string{
				"2026-11-28 10:00:00 info: WhatsApp Service running on port 3000",
				"2026-11-28 10:00:05 info: Starting session restoration...",
				"2026-11-28 10:00:05 info: Found 1 sessions to restore",
				"2026-11-28 10:05:00 info: Starting session restoration...",
			},
			want: Restoration{StartedAt: ts("10:05:00"), Found: -1, Total: -1},
			seen: true,
		},
		{
			name: "a second Initiating begins a new block",
			lines: []string{
				"2026-11-28 10:00:05 info: Initiating session restoration...",
				"2026-11-28 10:00:05 info: Starting session restoration...",
				"2026-11-28 10:05:00 info: Initiating session restoration...",
			},
			want: Restoration{StartedAt: ts("10:05:00"), Found: -1, Total: -1},
			seen: true,
		},
		{
			name:  "found without a start is truncated",
			lines: []string{"2026-11-28 10:00:05 info: Found 2 sessions to restore"},
			want:  Restoration{Found: 2, Total: -1, Truncated: true},
			seen:  true,
		},
		{
			name:  "a second Found opens a new block",
			lines: []string{"Starting session restoration...", "Found 2 sessions to restore", "Restoring session: a (x)", "Found 1 session to restore"},
			want:  Restoration{Found: 1, Total: -1, Truncated: true},
			seen:  true,
		},
		{
			name: "restoring after the end opens a new block",
			lines: []string{
				"Starting session restoration...", "Found 0 sessions to restore", "Session restoration complete: 0 restored, 0 failed",
				"2026-11-28 10:00:05 info: Restoring session: b (y)",
			},
			want: Restoration{Found: -1, Total: -1, Truncated: true, Sessions: []SessionOutcome{{ID: "b", Instance: "y", Result: SessionRestoring, At: ts("10:00:05")}}},
			seen: true,
		},
		{
			name: "mojibake marks, plain lines, unknown sessions",
			lines: []string{
				"Starting session restoration...",
				"âœ“ Session restored: user_1_instance_a",
				"âœ— Failed to restore session user_2_instance_b: Auth failure",
				"✗ Error restoring session user_3_instance_c",
			},
			want: Restoration{Found: -1, Total: -1, Sessions: []SessionOutcome{
				{ID: "user_1_instance_a", Result: SessionRestored},
				{ID: "user_2_instance_b", Result: SessionFailed, Cause: "Auth failure"},
				{ID: "user_3_instance_c", Result: SessionError},
			}, Restored: 1, Failed: 2},
			seen: true,
		},
		{
			name: "connections: qr then ready, unknown ids ignored, malformed lines",
			lines: []string{
				"Starting session restoration...",
				"Restoring session: a (x)",
				"✓ Session restored: a",
				"QR code generated for session a",
				"Client a is ready",
				"Client zzz is ready",
				"QR code generated for session yyy",
				"Client is ready",
				"Client ",
				"Restoring session: ",
				"✓ Session restored: ",
				"Found many sessions to restore",
				"Session restoration complete: lots restored, 0 failed",
			},
			want: Restoration{Found: -1, Total: -1, Restored: 1, Sessions: []SessionOutcome{
				{ID: "a", Instance: "x", Result: SessionRestored, Connection: ConnectionReady},
			}},
			seen: true,
		},
		{
			name: "cause from the stack, and capped",
			lines: []string{
				"Starting session restoration...",
				`{"level":"error","message":"✗ Error restoring session a:","stack":"Error: Evaluation failed: boom\n    at x (y.js:1:1)"}`,
				"✗ Failed to restore session b: " + strings.Repeat("é", 400),
			},
			want: Restoration{Found: -1, Total: -1, Failed: 2, Sessions: []SessionOutcome{
				{ID: "a", Result: SessionError, Cause: "Error: Evaluation failed: boom"},
				{ID: "b", Result: SessionFailed, Cause: strings.Repeat("é", 250) + "…"},
			}},
			seen: true,
		},
		{
			name: "django down in json, spread string",
			lines: []string{
				`{"level":"info","message":"Starting session restoration...","timestamp":"2026-11-28 10:00:05"}`,
				`{"0":"t","1":"i","2":"m","3":"e","4":"o","5":"u","6":"t","level":"error","message":"Failed to restore sessions:","timestamp":"2026-11-28 10:00:35"}`,
				`{"level":"info","message":"Session restoration result: {\"restored\":0,\"failed\":0,\"total\":0,\"error\":\"timeout of 30000ms exceeded\"}","timestamp":"2026-11-28 10:00:35"}`,
			},
			want: Restoration{StartedAt: ts("10:00:05"), Found: -1, Total: 0, Error: "timeout", CompletedAt: ts("10:00:35")},
			seen: true,
		},
		{
			name: "result line alone completes (merged keys), found from its total",
			lines: []string{
				"Starting session restoration...",
				`{"failed":1,"level":"info","message":"Session restoration result:","restored":2,"timestamp":"2026-11-28 10:00:35","total":3}`,
			},
			want: Restoration{Found: 3, Complete: true, Restored: 2, Failed: 1, Total: 3, CompletedAt: ts("10:00:35")},
			seen: true,
		},
		{
			name: "failed to restore sessions without a cause",
			lines: []string{
				"Starting session restoration...",
				"Failed to restore sessions:",
			},
			want: Restoration{Found: -1, Total: -1, Error: "unknown error"},
			seen: true,
		},
		{
			name: "cut json line ignored",
			lines: []string{
				"Starting session restoration...",
				`{"level":"info","message":"✓ Session restored: a`,
			},
			want: Restoration{Found: -1, Total: -1},
			seen: true,
		},
		{
			name: "the same session twice keeps one entry",
			lines: []string{
				"Starting session restoration...",
				"Restoring session: a (x)",
				"✗ Failed to restore session a: undefined",
				"Restoring session: a (x)",
				"✓ Session restored: a",
			},
			want: Restoration{Found: -1, Total: -1, Restored: 1, Sessions: []SessionOutcome{{ID: "a", Instance: "x", Result: SessionRestored}}},
			seen: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewRestorationParser()
			for _, l := range tt.lines {
				p.Feed(l + "\n")
			}
			checkRestoration(t, "Result()", p.Result(), tt.want)
			if got := p.Seen(); got != tt.seen {
				t.Errorf("Seen() = %v; want %v", got, tt.seen)
			}
		})
	}
}

func TestRestorationParserSnapshot(t *testing.T) {
	p := NewRestorationParser()
	p.Feed("Starting session restoration...")
	p.Feed("✓ Session restored: a")
	r := p.Result()
	r.Sessions[0].ID = "changed"
	if got := p.Result().Sessions[0].ID; got != "a" {
		t.Errorf("Result() shares its sessions: got %q after a change to a snapshot; want %q", got, "a")
	}

	// One goroutine feeds while others read (run with -race).
	p = NewRestorationParser()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.Feed("Starting session restoration...")
		for i := range 200 {
			p.Feed(fmt.Sprintf("✓ Session restored: s%d", i))
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				_ = p.Result().Done()
			}
		}()
	}
	wg.Wait()
	if got := p.Result().Restored; got != 200 {
		t.Errorf("Restored = %d; want 200", got)
	}
}

func TestRestorationHelpers(t *testing.T) {
	r, ok, err := LastRestoration(filepath.Join("testdata", "restoration", "complete.json.log"))
	if err != nil || !ok {
		t.Fatalf("LastRestoration = %v, %v", ok, err)
	}
	ids := func(os []SessionOutcome) string {
		var s []string
		for _, o := range os {
			s = append(s, o.ID)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		name string
		got  []SessionOutcome
		want string
	}{
		{"FailedSessions", r.FailedSessions(), "user_31_instance_sales,user_40_instance_support"},
		{"RestoredSessions", r.RestoredSessions(), "user_12_instance_main,user_7_instance_main,user_9_instance_ops"},
		{"Pending", r.Pending(), "user_9_instance_ops"},
		{"NeedQR", r.NeedQR(), "user_7_instance_main"},
		{"InProgress", r.InProgress(), ""},
	}
	for _, tt := range tests {
		if got := ids(tt.got); got != tt.want {
			t.Errorf("%s() = %q; want %q", tt.name, got, tt.want)
		}
	}
	if !r.Done() {
		t.Errorf("Done() = false; want true")
	}
}

// Seeds are kept short: the fuzzer minimizes every new input, and that is
// slow on inputs of several KiB.
func FuzzRestorationFeed(f *testing.F) {
	for _, seed := range []string{
		"WhatsApp Service running on port 3000\nInitiating session restoration...\nStarting session restoration...\nFound 2 sessions to restore",
		"Restoring session: a (x)\n✓ Session restored: a\nClient a is ready\nQR code generated for session a",
		"✗ Failed to restore session b: undefined\n✗ Error restoring session c: boom\nSession restoration complete: 1 restored, 2 failed",
		`{"failed":1,"level":"info","message":"Session restoration result:","restored":2,"total":3}`,
		`{"0":"x","level":"error","message":"Failed to restore sessions:","stack":"Error: x"}` + "\nSession restoration result: {\"error\":\"x\"}",
		"2026-11-28 14:09:58 info: Found 1 session to restore\nClient is ready\nâœ— Error restoring session",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		p := NewRestorationParser()
		for _, l := range strings.Split(data, "\n") {
			p.Feed(l)
		}
		r := p.Result()
		if !p.Seen() && (len(r.Sessions) > 0 || r.Found != -1) {
			t.Fatalf("Seen() = false with a block: %s", dumpRestoration(r))
		}
	})
}

// FuzzLastRestoration reads a log file as the status card does (backwards
// for the last block marker, then forwards): the result must not depend on
// the chunk size of the backward search, however the markers straddle the
// chunks.
func FuzzLastRestoration(f *testing.F) {
	for _, seed := range []string{
		"WhatsApp Service running on port 3000\nInitiating session restoration...\nStarting session restoration...\nFound 1 session to restore\nRestoring session: a (x)\n✓ Session restored: a\nSession restoration complete: 1 restored, 0 failed\n",
		"Starting session restoration...\nFound 2 sessions to restore\nStarting session restoration...\nFound 1 session to restore\n✗ Failed to restore session b: undefined",
		`{"level":"info","message":"Starting session restoration..."}` + "\n" + `{"failed":0,"level":"info","message":"Session restoration result:","restored":1,"total":1}`,
		"no block here\n\r\n",
	} {
		f.Add(seed, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data string, chunk uint8) {
		path := filepath.Join(t.TempDir(), "combined.log")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		want, wantOK, err := lastRestoration(path, 1<<20, restorationMaxBack)
		if err != nil {
			t.Fatalf("lastRestoration(whole) error: %v", err)
		}
		got, ok, err := lastRestoration(path, int64(chunk%64)+1, restorationMaxBack)
		if err != nil {
			t.Fatalf("lastRestoration(chunk %d) error: %v", chunk%64+1, err)
		}
		if ok != wantOK || dumpRestoration(got) != dumpRestoration(want) {
			t.Fatalf("chunk %d: %v %s; whole file: %v %s", chunk%64+1, ok, dumpRestoration(got), wantOK, dumpRestoration(want))
		}
	})
}
