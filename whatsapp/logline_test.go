package whatsapp

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func logLineLocal(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.Local)
}

func TestParseLogLine(t *testing.T) {
	ts := logLineLocal(2026, 11, 28, 14, 9, 58)
	longStack := "Error: boom\n" + strings.Repeat("    at f (/srv/x.js:1:2)\n", 400)
	tests := []struct {
		name   string
		line   string
		want   LogLine
		wantOK bool
	}{
		{
			name:   "winston json",
			line:   `{"level":"info","message":"Found 4 sessions to restore","service":"whatsapp-service","timestamp":"2026-11-28 14:09:58"}`,
			want:   LogLine{Time: ts, Level: "info", Message: "Found 4 sessions to restore", Service: "whatsapp-service", JSON: true},
			wantOK: true,
		},
		{
			name:   "json with newline and CR",
			line:   `{"level":"warn","message":"x","timestamp":"2026-11-28 14:09:58"}` + "\r\n",
			want:   LogLine{Time: ts, Level: "warn", Message: "x", JSON: true},
			wantOK: true,
		},
		{
			name:   "json with stack",
			line:   `{"level":"error","message":"boom","service":"whatsapp-service","stack":` + logLineQuote(longStack) + `,"timestamp":"2026-11-28 14:09:58"}`,
			want:   LogLine{Time: ts, Level: "error", Message: "boom", Stack: longStack, Service: "whatsapp-service", JSON: true},
			wantOK: true,
		},
		{
			name:   "json spread string, keys in alphabetical order",
			line:   `{"0":"c","1":"o","10":"D","11":"!","2":"n","3":"n","4":" ","5":"r","6":"e","7":"f","8":"u","9":"s","level":"error","message":"Failed to restore sessions:","timestamp":"2026-11-28 14:09:58"}`,
			want:   LogLine{Time: ts, Level: "error", Message: "Failed to restore sessions:", Arg: "conn refusD!", JSON: true},
			wantOK: true,
		},
		{
			name:   "json spread with a surrogate pair split over two keys",
			line:   `{"0":"o","1":"k","2":" ","3":"\ud83d","4":"\ude00","level":"info","message":"m"}`,
			want:   LogLine{Level: "info", Message: "m", Arg: "ok 😀", JSON: true},
			wantOK: true,
		},
		{
			name:   "json spread array (not single chars) joined by spaces",
			line:   `{"0":"alpha","1":"beta","level":"info","message":"m"}`,
			want:   LogLine{Level: "info", Message: "m", Arg: "alpha beta", JSON: true},
			wantOK: true,
		},
		{
			name:   "json spread with a gap keeps the rest as fields",
			line:   `{"0":"a","1":"b","3":"d","level":"info","message":"m"}`,
			want:   LogLine{Level: "info", Message: "m", Arg: "ab", Fields: map[string]string{"3": "d"}, JSON: true},
			wantOK: true,
		},
		{
			name:   "json merged object meta goes to fields",
			line:   `{"error":"connect ECONNREFUSED","failed":0,"level":"info","message":"Session restoration result:","meta":{"a":1},"restored":0,"total":0}`,
			want:   LogLine{Level: "info", Message: "Session restoration result:", Fields: map[string]string{"error": "connect ECONNREFUSED", "failed": "0", "restored": "0", "total": "0", "meta": `{"a":1}`}, JSON: true},
			wantOK: true,
		},
		{
			name:   "json ISO timestamp and colourized level",
			line:   `{"level":"\u001b[32mINFO\u001b[39m","message":"hi","timestamp":"2026-11-28T13:09:58.250Z"}`,
			want:   LogLine{Time: time.Date(2026, 11, 28, 13, 9, 58, 250e6, time.UTC), Level: "info", Message: "hi", JSON: true},
			wantOK: true,
		},
		{
			name:   "json bad timestamp leaves time zero",
			line:   `{"level":"info","message":"hi","timestamp":"yesterday"}`,
			want:   LogLine{Level: "info", Message: "hi", JSON: true},
			wantOK: true,
		},
		{
			name:   "json non-string message",
			line:   `{"level":"info","message":{"a":1}}`,
			want:   LogLine{Level: "info", Message: `{"a":1}`, JSON: true},
			wantOK: true,
		},
		{
			name: "json without level or message",
			line: `{"foo":"bar"}`,
			want: LogLine{Message: `{"foo":"bar"}`},
		},
		{
			name: "broken json (cut line)",
			line: `{"level":"info","message":"Restoring sess`,
			want: LogLine{Message: `{"level":"info","message":"Restoring sess`},
		},
		{
			name: "json array",
			line: `[1,2]`,
			want: LogLine{Message: `[1,2]`},
		},
		{
			name:   "text",
			line:   "2026-11-28 14:09:58 info: ✓ Session restored: user_1_instance_a",
			want:   LogLine{Time: ts, Level: "info", Message: "✓ Session restored: user_1_instance_a"},
			wantOK: true,
		},
		{
			name:   "text with millis and colon in the message",
			line:   "2026-11-28 14:09:58.123 warn: ✗ Failed to restore session u: undefined\n",
			want:   LogLine{Time: ts.Add(123 * time.Millisecond), Level: "warn", Message: "✗ Failed to restore session u: undefined"},
			wantOK: true,
		},
		{
			name:   "text ISO with zone",
			line:   "2026-11-28T14:09:58+01:00 error: boom",
			want:   LogLine{Time: time.Date(2026, 11, 28, 13, 9, 58, 0, time.UTC), Level: "error", Message: "boom"},
			wantOK: true,
		},
		{
			name:   "text bracketed timestamp, upper-case colourized level",
			line:   "[2026-11-28 14:09:58] \x1b[31mERROR\x1b[39m: boom",
			want:   LogLine{Time: ts, Level: "error", Message: "boom"},
			wantOK: true,
		},
		{
			name:   "text empty message",
			line:   "2026-11-28 14:09:58 info:",
			want:   LogLine{Time: ts, Level: "info"},
			wantOK: true,
		},
		{
			name: "text unknown level",
			line: "2026-11-28 14:09:58 Something: happened",
			want: LogLine{Message: "2026-11-28 14:09:58 Something: happened"},
		},
		{
			name: "text without level",
			line: "2026-11-28 14:09:58 just words",
			want: LogLine{Message: "2026-11-28 14:09:58 just words"},
		},
		{
			name: "plain line",
			line: "    at Foo (/srv/x.js:1:2)",
			want: LogLine{Message: "    at Foo (/srv/x.js:1:2)"},
		},
		{
			name: "empty",
			line: "",
			want: LogLine{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseLogLine(tt.line)
			if ok != tt.wantOK || !sameLogLine(got, tt.want) {
				t.Errorf("ParseLogLine(%.80q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func sameLogLine(a, b LogLine) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func logLineQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\n':
			b.WriteString(`\n`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestLogLineText(t *testing.T) {
	tests := []struct {
		l    LogLine
		want string
	}{
		{LogLine{Message: "a"}, "a"},
		{LogLine{Message: "Failed to restore sessions:", Arg: "boom"}, "Failed to restore sessions: boom"},
		{LogLine{Message: "x ", Arg: "y"}, "x y"},
		{LogLine{Arg: "y"}, "y"},
	}
	for _, tt := range tests {
		if got := tt.l.Text(); got != tt.want {
			t.Errorf("%+v.Text() = %q; want %q", tt.l, got, tt.want)
		}
	}
}

func FuzzParseLogLine(f *testing.F) {
	for _, s := range []string{
		`{"level":"info","message":"Found 4 sessions to restore","service":"whatsapp-service","timestamp":"2026-11-28 14:09:58"}`,
		`{"0":"a","1":"\ud83d","2":"\ude00","level":"error","message":"m:","stack":"Error: x\n  at y"}`,
		`{"0":"a","1":"b","3":"d","level":"info"}`,
		`{"level":5,"message":null,"timestamp":12}`,
		`{"level":"info","message":"Restoring sess`,
		"2026-11-28 14:09:58 info: ✓ Session restored: user_1_instance_a",
		"2026-11-28T14:09:58.5+01:00 warn: x",
		"[2026-11-28 14:09:58] \x1b[31mERROR\x1b[39m: boom",
		"2026-11-28 14:09:58,1 info",
		"\x1b[",
		"",
		"{}",
		"\xff\xfe{",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		l, ok := ParseLogLine(line)
		if !ok {
			if l.Message != line || l.Level != "" || !l.Time.IsZero() || l.Fields != nil {
				t.Fatalf("ParseLogLine(%q) = %+v, false; want only Message = the line", line, l)
			}
			return
		}
		if l.JSON {
			for _, s := range []string{l.Message, l.Arg, l.Stack, l.Service} {
				if !utf8.ValidString(s) {
					t.Fatalf("ParseLogLine(%q): invalid UTF-8 %q from a JSON line", line, s)
				}
			}
			return
		}
		if !logLineLevels[l.Level] {
			t.Fatalf("ParseLogLine(%q) = level %q; want a known level", line, l.Level)
		}
		_ = l.Text()
	})
}
