package bot

import "strings"

// resolved is what a word of a command names among the known services.
type resolved struct {
	// Name is the service's full name ("web-2/whatsapp"), "" when the
	// word names none or several.
	Name string
	// Choices are the services a bare name could mean when it is the
	// service part of several ("web-1/whatsapp", "web-2/whatsapp").
	Choices []string
}

// resolveService finds the service word names among names: a name as it
// is ("whatsapp" on one host, "web-2/whatsapp" in a fleet), or a bare name
// that is the service part of exactly one "host/service". Names are
// matched exactly, as today: a service's name is case-sensitive.
func resolveService(word string, names []string) resolved {
	var matches []string
	for _, n := range names {
		if n == word {
			return resolved{Name: n}
		}
		if _, svc, ok := strings.Cut(n, "/"); ok && svc == word {
			matches = append(matches, n)
		}
	}
	switch len(matches) {
	case 0:
		return resolved{}
	case 1:
		return resolved{Name: matches[0]}
	}
	return resolved{Choices: matches}
}
