package whatsapp

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// LogLine is one line of the service log, read from either format of SPEC.md
// section 6: winston JSON or winston's text format "<timestamp> <level>: <message>".
type LogLine struct {
	// Time is when the line was written, zero if absent or unparseable.
	// winston's "2006-01-02 15:04:05" is local time and is parsed in time.Local;
	// ISO timestamps keep their zone.
	Time time.Time
	// Level is lower case: "info", "warn", "error", ... ("" if absent).
	Level   string
	Message string
	// Arg is a string that was passed as a second argument to the logger and
	// that winston spread into the keys "0", "1", ... (one key per UTF-16 code
	// unit), rebuilt. It often carries the cause: "Failed to restore sessions:"
	// + "connect ECONNREFUSED 127.0.0.1:8000". Text() joins it to Message.
	Arg string
	// Stack is the "stack" key of an error object (it may be several KiB).
	Stack string
	// Service is winston's "service" default meta ("whatsapp-service").
	Service string
	// Fields holds any other key of a JSON line: strings unquoted, other
	// values as their JSON text. It is nil when there is none, which is the
	// common case, so that reading a log costs no map per line.
	Fields map[string]string
	// JSON is true for a winston JSON line, false for a text line.
	JSON bool
}

// Text is the message as a person would read it: Message, then Arg if any.
func (l LogLine) Text() string {
	switch {
	case l.Arg == "":
		return l.Message
	case l.Message == "":
		return l.Arg
	case strings.HasSuffix(l.Message, " "):
		return l.Message + l.Arg
	}
	return l.Message + " " + l.Arg
}

// ParseLogLine reads one log line of either format; a trailing "\n" or "\r\n"
// is ignored. A JSON line is recognized when it is a JSON object with a
// "level" or a "message" key; a text line when it starts with a timestamp
// (winston's "2006-01-02 15:04:05", with or without milliseconds, or ISO 8601,
// optionally in brackets) followed by a known level and a colon. Colour codes
// around the level are ignored. Anything else gives ok=false and a LogLine
// whose Message is the whole line, unchanged. It never panics.
func ParseLogLine(line string) (LogLine, bool) {
	s := strings.TrimRight(line, "\r\n")
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") {
		if l, ok := logLineJSON(t); ok {
			return l, true
		}
		return LogLine{Message: line}, false
	}
	if l, ok := logLineText(s); ok {
		return l, true
	}
	return LogLine{Message: line}, false
}

// logLineMaxSpread bounds the keys "0", "1", ... rebuilt into LogLine.Arg.
const logLineMaxSpread = 1 << 20

func logLineJSON(s string) (LogLine, bool) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil || raw == nil {
		return LogLine{}, false
	}
	_, hasLevel := raw["level"]
	_, hasMessage := raw["message"]
	if !hasLevel && !hasMessage {
		return LogLine{}, false
	}
	l := LogLine{JSON: true}
	var spread map[int]json.RawMessage
	for k, v := range raw {
		switch k {
		case "level":
			l.Level = logLineLevel(logLineValue(v))
		case "message":
			l.Message = logLineValue(v)
		case "timestamp":
			l.Time, _ = parseLogTime(logLineValue(v))
		case "stack":
			l.Stack = logLineValue(v)
		case "service":
			l.Service = logLineValue(v)
		default:
			if i, ok := logLineIndex(k); ok {
				if spread == nil {
					spread = make(map[int]json.RawMessage)
				}
				spread[i] = v
				continue
			}
			logLineField(&l, k, logLineValue(v))
		}
	}
	if spread != nil {
		n := 0
		for n < len(spread) {
			if _, ok := spread[n]; !ok {
				break
			}
			n++
		}
		l.Arg = logLineSpread(spread, n)
		for i, v := range spread {
			if i >= n { // not part of the contiguous run 0..n-1
				logLineField(&l, strconv.Itoa(i), logLineValue(v))
			}
		}
	}
	return l, true
}

func logLineField(l *LogLine, k, v string) {
	if l.Fields == nil {
		l.Fields = make(map[string]string)
	}
	l.Fields[k] = v
}

// logLineIndex reports whether k is a canonical array index: "0", "1", ...,
// without leading zeros.
func logLineIndex(k string) (int, bool) {
	if k == "" || len(k) > 7 || (len(k) > 1 && k[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n < logLineMaxSpread
}

// logLineSpread rebuilds the string that winston spread over the keys 0..n-1.
// JavaScript spreads a string by UTF-16 code unit, so a character outside the
// BMP arrives as two lone surrogate escapes in two keys; concatenating the raw
// JSON string bodies before decoding joins them again. Values that are not
// single characters (an array spread the same way) are joined with a space.
func logLineSpread(spread map[int]json.RawMessage, n int) string {
	if n == 0 {
		return ""
	}
	chars := true
	var body bytes.Buffer
	body.WriteByte('"')
	for i := 0; i < n && chars; i++ {
		v := bytes.TrimSpace(spread[i])
		if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			chars = false
			break
		}
		inner := v[1 : len(v)-1]
		if !logLineOneUnit(inner) {
			chars = false
			break
		}
		body.Write(inner)
	}
	if chars {
		body.WriteByte('"')
		var out string
		if err := json.Unmarshal(body.Bytes(), &out); err == nil {
			return out
		}
	}
	parts := make([]string, 0, n)
	for i := 0; i < n; i++ {
		parts = append(parts, logLineValue(spread[i]))
	}
	return strings.Join(parts, " ")
}

// logLineOneUnit reports whether inner, the body of a JSON string, holds at
// most one UTF-16 code unit: one BMP character, one escape, or one lone
// surrogate escape.
func logLineOneUnit(inner []byte) bool {
	switch {
	case len(inner) == 0:
		return true
	case inner[0] == '\\':
		if len(inner) == 2 {
			return true
		}
		return len(inner) == 6 && inner[1] == 'u'
	}
	r, size := utf8.DecodeRune(inner)
	return size == len(inner) && r <= 0xFFFF
}

// logLineValue returns a JSON string unquoted, anything else as its JSON text.
func logLineValue(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return strings.ToValidUTF8(string(v), "\uFFFD")
}

// logLineLevels are the levels of winston's npm, syslog and cli sets and the
// usual aliases; a text line is recognized only with one of these.
var logLineLevels = map[string]bool{
	"error": true, "warn": true, "warning": true, "info": true, "http": true,
	"verbose": true, "debug": true, "silly": true, "trace": true, "fatal": true,
	"notice": true, "crit": true, "alert": true, "emerg": true, "help": true,
	"data": true, "prompt": true, "input": true,
}

// logLineLevel lower-cases a level and drops ANSI colour codes and brackets.
func logLineLevel(s string) string {
	s = logLineStripANSI(s)
	s = strings.TrimSpace(strings.Trim(s, "[]"))
	return strings.ToLower(s)
}

// logLineStripANSI removes ANSI CSI sequences ("\x1b[32m") from s.
func logLineStripANSI(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j // skip the final byte too
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func logLineText(s string) (LogLine, bool) {
	rest := s
	bracket := strings.HasPrefix(rest, "[")
	if bracket {
		rest = rest[1:]
	}
	n := logTimeLen(rest)
	if n == 0 {
		return LogLine{}, false
	}
	ts := rest[:n]
	rest = rest[n:]
	if bracket {
		if !strings.HasPrefix(rest, "]") {
			return LogLine{}, false
		}
		rest = rest[1:]
	}
	if !strings.HasPrefix(rest, " ") {
		return LogLine{}, false
	}
	rest = strings.TrimLeft(rest, " ")
	colon := strings.IndexByte(rest, ':')
	if colon <= 0 || colon > 40 {
		return LogLine{}, false
	}
	level := logLineLevel(rest[:colon])
	if !logLineLevels[level] {
		return LogLine{}, false
	}
	msg := strings.TrimPrefix(rest[colon+1:], " ")
	t, _ := parseLogTime(ts)
	return LogLine{Time: t, Level: level, Message: logLineStripANSI(msg)}, true
}

// logTimeLen returns the length of the timestamp at the start of s, 0 if s
// does not start with one: "2006-01-02 15:04:05" or "2006-01-02T15:04:05",
// with an optional fraction and, after a "T", an optional zone.
func logTimeLen(s string) int {
	const digits = "dddd-dd-dd?dd:dd:dd"
	if len(s) < len(digits) {
		return 0
	}
	for i := 0; i < len(digits); i++ {
		c := s[i]
		switch digits[i] {
		case 'd':
			if c < '0' || c > '9' {
				return 0
			}
		case '?':
			if c != ' ' && c != 'T' {
				return 0
			}
		default:
			if c != digits[i] {
				return 0
			}
		}
	}
	iso := s[10] == 'T'
	n := len(digits)
	if n < len(s) && (s[n] == '.' || s[n] == ',') {
		n++
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
	}
	if iso && n < len(s) {
		switch s[n] {
		case 'Z':
			n++
		case '+', '-':
			// +hh:mm or +hhmm
			m := n + 1
			for m < len(s) && m < n+6 && (s[m] >= '0' && s[m] <= '9' || s[m] == ':') {
				m++
			}
			n = m
		}
	}
	return n
}

// parseLogTime parses the timestamps the service writes: winston's
// "2006-01-02 15:04:05" in local time (milliseconds allowed), or ISO 8601.
func parseLogTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 19 {
		return time.Time{}, false
	}
	s = strings.Replace(s, ",", ".", 1)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
