package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file decodes a *yaml.Node tree onto a Config by reflection. yaml.v3's
// own decoder stops at the first unknown key and reports type errors without
// the key path; walking the nodes ourselves lets every error name its path,
// its line and a suggestion, and lets ${ENV} expansion happen on values only,
// after parsing, so that a secret containing ": " or " #" cannot change the
// structure of the file.
//
// Supported field types are the ones Config uses: string, int, bool,
// time.Duration, []string, map[string]string, struct and []struct. A null
// value (`key:`, `key: ~`) leaves the field at its default. Anchors, aliases
// and merge keys (<<) work; a budget on visited nodes stops alias bombs.

// maxVisits bounds the nodes visited, aliases included. A real config has a
// few hundred.
const maxVisits = 100_000

// parseYAML parses data into its document node. It returns nil, nil for an
// empty document, and refuses a stream of several documents.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// The parser reports errors by panicking and recovering internally;
		// anything else escaping it is a parser bug, which must not crash the
		// bot. The panic value may quote the file, so it is not shown.
		if r := recover(); r != nil {
			root, err = nil, &FieldError{Msg: "invalid YAML: the parser failed on this file"}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return &doc, nil
	case err != nil:
		return nil, yamlError(err)
	default:
		return nil, &FieldError{Msg: "the file holds several YAML documents (---): a config is one document", Line: next.Line}
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a parser error into a FieldError. The parser's messages
// describe the problem without quoting the file.
func yamlError(err error) *FieldError {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{Msg: "invalid YAML: " + m[2], Line: line}
	}
	return &FieldError{Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

type decoder struct {
	lookupEnv func(string) (string, bool)
	lines     map[string]int      // key path -> line of its key or list item
	refs      map[string][]string // key path -> env variables in its value
	errs      []error
	errPaths  []string            // paths with a decode error
	active    map[*yaml.Node]bool // aliases being followed, to stop cycles
	visits    int
	exhausted bool
}

func newDecoder(lookupEnv func(string) (string, bool)) *decoder {
	return &decoder{
		lookupEnv: lookupEnv,
		lines:     map[string]int{},
		refs:      map[string][]string{},
		active:    map[*yaml.Node]bool{},
	}
}

func (d *decoder) fail(path string, line int, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
	d.errPaths = append(d.errPaths, path)
}

// failed reports whether path, one of its ancestors or one of its
// descendants had a decode error, so that validation does not report a
// consequence of it again.
func (d *decoder) failed(path string) bool {
	for _, p := range d.errPaths {
		if p == "" || p == path || isUnder(path, p) || isUnder(p, path) {
			return true
		}
	}
	return false
}

// isUnder reports whether path is strictly below parent.
func isUnder(path, parent string) bool {
	return strings.HasPrefix(path, parent) && len(path) > len(parent) &&
		(path[len(parent)] == '.' || path[len(parent)] == '[')
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	serviceType  = reflect.TypeFor[Service]()
)

// resolve follows an alias. It returns nil (after reporting) for a cycle or
// when the visit budget is spent. done must be called when the node has been
// decoded.
func (d *decoder) resolve(n *yaml.Node, path string) (_ *yaml.Node, done func()) {
	noop := func() {}
	d.visits++
	if d.visits > maxVisits {
		if !d.exhausted {
			d.exhausted = true
			d.fail("", n.Line, "the document is too large or expands too many aliases (more than %d nodes)", maxVisits)
		}
		return nil, noop
	}
	if n.Kind != yaml.AliasNode {
		return n, noop
	}
	if d.active[n] || n.Alias == nil {
		d.fail(path, n.Line, "alias *%s refers to itself", n.Value)
		return nil, noop
	}
	d.active[n] = true
	target, inner := d.resolve(n.Alias, path)
	return target, func() { inner(); delete(d.active, n) }
}

// decode decodes n onto v, which holds the value's current (default)
// content. line is where the key of path is written.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, line int) {
	n, done := d.resolve(n, path)
	defer done()
	if n == nil {
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		d.decode(n.Content[0], v, path, line)
		return
	}
	if line == 0 {
		line = n.Line
	}
	if isNull(n) {
		return // keep the default
	}
	switch {
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path, line)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		d.decodeStructList(n, v, path, line)
	case v.Kind() == reflect.Slice:
		d.decodeStringList(n, v, path, line)
	case v.Kind() == reflect.Map:
		d.decodeStringMap(n, v, path, line)
	default:
		d.decodeScalar(n, v, path, line)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node, path string) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return showValue(path, n.Value, nil)
	}
	return "something else"
}

// showValue quotes a value for an error message, or hides it: the value of
// a secret key, and any value taken from a SLACK_* variable (the bot treats
// them all as secrets and keeps them from the service), are never shown.
func showValue(path, value string, refs []string) string {
	if isSecret(path) {
		return "(value hidden)"
	}
	for _, r := range refs {
		if hasReservedPrefix(r) {
			return "(value hidden)"
		}
	}
	return strconv.Quote(value)
}

// isSecret reports whether the value at path must never be shown: the Slack
// tokens and secret, and service env values (they often carry passwords).
func isSecret(path string) bool {
	switch path {
	case "slack.bot_token", "slack.signing_secret", "slack.app_token", "notify.email.password":
		return true
	}
	return strings.Contains(path, ".env.") || strings.Contains(path, ".env[")
}

// redact replaces every secret in msg with "(value hidden)": a safety net
// under showValue for values that embed a secret.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "(value hidden)")
		if q := strconv.Quote(s); q[1:len(q)-1] != s {
			msg = strings.ReplaceAll(msg, q[1:len(q)-1], "(value hidden)")
		}
	}
	return msg
}

// entry is one key: value pair of a mapping, after merges.
type entry struct {
	key, value *yaml.Node
	name       string
}

// entries returns the pairs of mapping m, with merge keys (<<) expanded:
// explicit keys first, in order, then merged keys not set explicitly. It
// reports duplicate and non-scalar keys.
func (d *decoder) entries(m *yaml.Node, path string) []entry {
	var out []entry
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, val := m.Content[i], m.Content[i+1]
		if isMergeKey(k) {
			merges = append(merges, val)
			continue
		}
		kn, done := d.resolve(k, path)
		if kn == nil {
			done()
			continue
		}
		if kn.Kind != yaml.ScalarNode {
			d.fail(path, k.Line, "a key must be a plain name, got %s", describe(kn, ""))
			done()
			continue
		}
		name := kn.Value
		done()
		if first, dup := seen[name]; dup {
			d.fail(joinKey(path, name), k.Line, "duplicate key (first at line %d)", first.Line)
			continue
		}
		seen[name] = k
		out = append(out, entry{key: k, value: val, name: name})
	}
	for _, mv := range merges {
		for _, e := range d.mergeEntries(mv, path) {
			if _, dup := seen[e.name]; dup {
				continue
			}
			seen[e.name] = e.key
			out = append(out, e)
		}
	}
	return out
}

// mergeEntries returns the entries a merge key's value brings: a mapping or
// a list of mappings, earlier ones winning.
func (d *decoder) mergeEntries(v *yaml.Node, path string) []entry {
	n, done := d.resolve(v, path)
	defer done()
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.entries(n, path)
	case yaml.SequenceNode:
		var out []entry
		seen := map[string]bool{}
		for _, item := range n.Content {
			in, done := d.resolve(item, path)
			if in != nil && in.Kind != yaml.MappingNode {
				d.fail(path, item.Line, "<< merges a mapping or a list of mappings, got %s in the list", describe(in, path))
			} else if in != nil {
				for _, e := range d.entries(in, path) {
					if !seen[e.name] {
						seen[e.name] = true
						out = append(out, e)
					}
				}
			}
			done()
		}
		return out
	}
	d.fail(path, n.Line, "<< merges a mapping or a list of mappings, got %s", describe(n, path))
	return nil
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.Tag == "!!merge")
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, line, "expected a mapping (key: value lines), got %s", describe(n, path))
		return
	}
	t := v.Type()
	var keys []string
	fields := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		keys = append(keys, name)
		fields[name] = i
	}
	for _, e := range d.entries(n, path) {
		p := joinKey(path, e.name)
		i, ok := fields[e.name]
		if !ok {
			if s := suggest(e.name, keys); s != "" {
				d.fail(p, e.key.Line, "unknown key, did you mean %s?", s)
			} else {
				d.fail(p, e.key.Line, "unknown key (valid keys: %s)", strings.Join(keys, ", "))
			}
			continue
		}
		d.lines[p] = e.key.Line
		d.decode(e.value, v.Field(i), p, e.key.Line)
	}
}

func (d *decoder) decodeStructList(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, line, "expected a list (items starting with \"- \"), got %s", describe(n, path))
		return
	}
	et := v.Type().Elem()
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = item.Line
		elem := reflect.New(et).Elem()
		if et == serviceType {
			elem.Set(reflect.ValueOf(defaultService()))
		}
		d.decode(item, elem, p, item.Line)
		out = reflect.Append(out, elem)
	}
	v.Set(out)
}

var listHints = map[string]string{
	"start": `: write it as a list, e.g. ["npm", "start"] (it is argv, never run by a shell)`,
}

func (d *decoder) decodeStringList(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		d.fail(path, line, "expected a list, got %s%s", describe(n, path), listHints[lastKey(path)])
		return
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.lines[p] = item.Line
		s, ok := d.scalarText(item, p, item.Line, "a string")
		if ok {
			out = append(out, s)
		}
	}
	v.Set(reflect.ValueOf(out))
}

func (d *decoder) decodeStringMap(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, line, "expected a mapping (NAME: value lines), got %s", describe(n, path))
		return
	}
	out := map[string]string{}
	for _, e := range d.entries(n, path) {
		p := joinKey(path, e.name)
		d.lines[p] = e.key.Line
		s, ok := d.scalarText(e.value, p, e.key.Line, "a string")
		if ok {
			out[e.name] = s
		}
	}
	v.Set(reflect.ValueOf(out))
}

// scalarText returns the expanded text of a scalar node ("" for null),
// reporting other kinds and bad ${...} references.
func (d *decoder) scalarText(n *yaml.Node, path string, line int, want string) (string, bool) {
	n, done := d.resolve(n, path)
	defer done()
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(path, line, "expected %s, got %s", want, describe(n, path))
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	s, refs, problems := expand(n.Value, d.lookupEnv)
	if len(refs) > 0 {
		d.refs[path] = refs
	}
	for _, p := range problems {
		if p.name != "" {
			d.fail(path, line, "${%s} is not set", p.name)
		} else {
			d.fail(path, line, "%s: %s", showValue(path, n.Value, nil), p.msg)
		}
	}
	return s, len(problems) == 0
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string, line int) {
	want := "a string"
	switch {
	case v.Type() == durationType:
		want = "a duration, e.g. 30s"
	case v.Type() == byteSizeType:
		want = "a size, e.g. 6GiB"
	case v.Kind() == reflect.Int:
		want = "an integer"
	case v.Kind() == reflect.Bool:
		want = "true or false"
	}
	raw := n.Value
	s, ok := d.scalarText(n, path, line, want)
	if !ok {
		return
	}
	// Show where an expanded value came from: `"ten" (from "${INTERVAL}")`.
	shown := showValue(path, s, d.refs[path])
	if s != raw {
		if shown == "(value hidden)" {
			shown = showValue(path, raw, nil)
		} else {
			shown += " (from " + showValue(path, raw, nil) + ")"
		}
	}
	switch {
	case v.Type() == durationType:
		dur, err := time.ParseDuration(s)
		if err != nil {
			if _, ierr := strconv.ParseFloat(s, 64); ierr == nil {
				d.fail(path, line, "%s is not a duration: add a unit, e.g. %ss", shown, s)
			} else {
				d.fail(path, line, "%s is not a duration: use a number and a unit (ms, s, m, h), e.g. 30s or 1m30s", shown)
			}
			return
		}
		v.SetInt(int64(dur))
	case v.Type() == byteSizeType:
		b, err := ParseByteSize(s)
		switch {
		case errors.Is(err, errByteSizeUnit):
			d.fail(path, line, "%s is not a size: add a unit, e.g. %sGiB or %sMiB (or 0 for none)", shown, s, s)
			return
		case errors.Is(err, errByteSizeNumber):
			d.fail(path, line, "%s is not a size: use a number and a unit (KiB, MiB, GiB, or KB, MB, GB), e.g. 6GiB, or 0 for none", shown)
			return
		case err != nil:
			d.fail(path, line, "%s is not a size: %v", shown, err)
			return
		}
		v.SetUint(uint64(b))
	case v.Kind() == reflect.Int:
		i, err := strconv.Atoi(s)
		if err != nil {
			d.fail(path, line, "%s is not an integer", shown)
			return
		}
		v.SetInt(int64(i))
	case v.Kind() == reflect.Bool:
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(path, line, "%s is not a boolean: use true or false", shown)
		}
	case v.Kind() == reflect.String:
		v.SetString(s)
	default:
		// Not reachable with Config's types; a new field type needs a case.
		d.fail(path, line, "cannot decode into %s", v.Type())
	}
}

// joinKey appends a mapping key to a path: "slack" + "listen" =
// "slack.listen". Keys that are not plain names are quoted:
// `services[0].env["A B"]`.
func joinKey(path, key string) string {
	if !plainKeyRE.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// lastKey returns the last key of a path: "start" for "services[0].start".
func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// suggest returns the known key closest to key, or "" when none is close:
// case, "-" versus "_" and small typos are forgiven.
func suggest(key string, known []string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "_")) }
	k := norm(key)
	best, bestDist := "", -1
	for _, c := range known {
		dist := levenshtein(k, norm(c))
		limit := max(1, max(len(k), len(c))/3)
		if dist <= limit && (bestDist < 0 || dist < bestDist) {
			best, bestDist = c, dist
		}
	}
	return best
}

// levenshtein returns the edit distance between a and b, in bytes.
func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b)) // not a typo of a config key; avoid the work
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
