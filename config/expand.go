package config

import (
	"regexp"
	"strings"
)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandProblem is one bad reference in a value.
type expandProblem struct {
	// name is the variable of an unset ${NAME}; "" for a malformed reference.
	name string
	// msg explains a malformed reference. It never contains the value.
	msg string
}

// expand replaces ${NAME} and ${NAME:-default} in s with the variable's value
// from lookup, and $${ with a literal ${. Any other $ is kept as is, so values
// such as passwords may contain $. ${NAME:-default} uses default when NAME is
// unset or empty (as the shell does); default is taken literally up to the
// first }. It returns the names it looked up and the problems it found: an
// unset variable without a default, or a malformed ${...}.
func expand(s string, lookup func(string) (string, bool)) (out string, refs []string, problems []expandProblem) {
	if !strings.Contains(s, "${") {
		return s, nil, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			problems = append(problems, expandProblem{msg: "unterminated ${: write ${NAME}, or $${ for a literal ${"})
			b.WriteString(s[i:])
			break
		}
		inner := s[i+2 : i+2+end]
		i += 2 + end + 1
		name, def, hasDef := strings.Cut(inner, ":-")
		if !envNameRE.MatchString(name) {
			problems = append(problems, expandProblem{msg: "malformed ${...}: write ${NAME} or ${NAME:-default} (NAME: letters, digits and _), or $${ for a literal ${"})
			continue
		}
		refs = append(refs, name)
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			b.WriteString(def)
		case ok:
			b.WriteString(v)
		default:
			problems = append(problems, expandProblem{name: name})
		}
	}
	return b.String(), refs, problems
}
