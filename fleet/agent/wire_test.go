package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
	"github.com/sanasend/sanasend-bot/internal/usererr"
	"github.com/sanasend/sanasend-bot/manager"
	"github.com/sanasend/sanasend-bot/whatsapp"
)

// filler sets every exported field of a value, at every depth, to a value
// that is not the zero one, and notes what JSON cannot carry (unexported
// fields, interfaces, funcs, channels).
type filler struct {
	n        int
	problems []string
}

var timeType = reflect.TypeOf(time.Time{})

func (f *filler) fill(v reflect.Value, path string, depth int) {
	f.n++
	if depth > 12 {
		f.problems = append(f.problems, path+": nested too deep (recursive type?)")
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.n%100 + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.n%100 + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.n) + 0.25)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", f.n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			f.fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
		v.Set(s)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			f.fill(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		f.fill(k, path+"<key>", depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		f.fill(e, path+"[k]", depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), path, depth+1)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 5, 1, 2, 3, 456789012, time.UTC).Add(time.Duration(f.n) * time.Second)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				f.problems = append(f.problems, path+"."+sf.Name+": unexported")
				continue
			}
			if sf.Tag.Get("json") == "-" {
				f.problems = append(f.problems, path+"."+sf.Name+": json:\"-\"")
				continue
			}
			f.fill(v.Field(i), path+"."+sf.Name, depth+1)
		}
	default:
		f.problems = append(f.problems, fmt.Sprintf("%s: a %s cannot cross JSON", path, v.Kind()))
	}
}

// Every type a reply or an event carries survives a JSON round trip with
// every field set: times (with nanoseconds), durations, nested structs,
// pointers, maps.
func TestReplyTypesRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		v    any // a pointer to the type
	}{
		{"Status", &manager.Status{}},
		{"LogResult", &manager.LogResult{}},
		{"Processes", &[]manager.Process{}},
		{"SessionsReport", &whatsapp.SessionsReport{}},
		{"Checks", &[]doctor.Check{}},
		{"StartResult", &manager.StartResult{}},
		{"StopResult", &manager.StopResult{}},
		{"RestartResult", &manager.RestartResult{}},
		{"CleanupResult", &manager.CleanupResult{}},
		{"BusyError", &manager.BusyError{}},
		{"PreconditionError", &manager.PreconditionError{}},
		{"Reply", &Reply{}},
		{"Event", &Event{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &filler{}
			v := reflect.ValueOf(tc.v).Elem()
			f.fill(v, tc.name, 0)
			if tc.name == "Event" { // Result is JSON itself
				v.FieldByName("Result").SetBytes([]byte(`{"PID":1}`))
			}
			if f.n < 3 {
				t.Fatalf("filled %d values; want every field", f.n)
			}
			for _, p := range f.problems {
				t.Errorf("does not cross JSON: %s", p)
			}
			data, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			back := reflect.New(v.Type())
			if err := json.Unmarshal(data, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), v.Interface()) {
				t.Errorf("round trip changed it:\n got %+v\nwant %+v", back.Elem().Interface(), v.Interface())
			}
		})
	}
}

// The manager's errors that front ends word themselves come back as they
// were; others keep their code and safe message, never the cause.
func TestErrorRoundTrip(t *testing.T) {
	since := time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC)
	busy := &manager.BusyError{Service: "whatsapp", Action: manager.ActionRestart, By: manager.Actor{ID: "U1", Name: "bob"}, Since: since}
	pre := &manager.PreconditionError{Service: "whatsapp", Failed: []doctor.Check{{Name: "port 3000", Verdict: doctor.VerdictFail, Detail: "in use by pid 4"}}}
	raw := errors.New("open /srv/secret: permission denied")
	tests := []struct {
		name     string
		err      error
		check    func(t *testing.T, got error)
		wantCode usererr.Code
		wantMsg  string
	}{
		{"busy", fmt.Errorf("restart: %w", busy), func(t *testing.T, got error) {
			var b *manager.BusyError
			if !errors.As(got, &b) || !reflect.DeepEqual(b, busy) {
				t.Errorf("got %#v; want the busy error", got)
			}
		}, "", ""},
		{"precondition", pre, func(t *testing.T, got error) {
			var p *manager.PreconditionError
			if !errors.As(got, &p) || !reflect.DeepEqual(p, pre) {
				t.Errorf("got %#v; want the precondition error", got)
			}
		}, "", ""},
		{"already stopped", manager.AlreadyStopped("whatsapp"), func(t *testing.T, got error) {
			if !errors.Is(got, manager.ErrAlreadyStopped) {
				t.Errorf("got %v; want ErrAlreadyStopped in its chain", got)
			}
		}, usererr.Conflict, "whatsapp is already stopped"},
		{"safe", usererr.Wrap(raw, usererr.Unavailable, "the log cannot be read"), nil, usererr.Unavailable, "the log cannot be read"},
		{"raw", raw, nil, usererr.Internal, usererr.Fallback},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(Reply{Error: EncodeError(tc.err)})
			if err != nil {
				t.Fatal(err)
			}
			if bytesContain(data, "secret") {
				t.Errorf("the wire holds the raw cause: %s", data)
			}
			var rep Reply
			if err := json.Unmarshal(data, &rep); err != nil {
				t.Fatal(err)
			}
			got := rep.Error.Decode()
			if tc.check != nil {
				tc.check(t, got)
			}
			if tc.wantCode != "" && (usererr.CodeOf(got) != tc.wantCode || usererr.Message(got) != tc.wantMsg) {
				t.Errorf("got %s %q; want %s %q", usererr.CodeOf(got), usererr.Message(got), tc.wantCode, tc.wantMsg)
			}
		})
	}
}

func bytesContain(b []byte, s string) bool { return strings.Contains(string(b), s) }

func TestLogArgs(t *testing.T) {
	for _, q := range []manager.LogQuery{{Lines: 50}, {Lines: 3, Filter: "a=b c", IncludeHealth: true}} {
		got, err := ParseLogArgs(LogArgs(q))
		if err != nil || got != q {
			t.Errorf("ParseLogArgs(LogArgs(%+v)) = %+v, %v", q, got, err)
		}
	}
	for _, bad := range [][]string{{"lines"}, {"lines=x"}, {"colour=red"}} {
		if _, err := ParseLogArgs(bad); err == nil {
			t.Errorf("ParseLogArgs(%q) = nil error", bad)
		}
	}
}
