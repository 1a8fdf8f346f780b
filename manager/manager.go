package manager

// Manager: the services of this host, in configuration order.

import (
	"fmt"
	"slices"
	"strings"
)

// Manager holds the services of this host, in configuration order.
type Manager struct {
	services map[string]*Service
	order    []string
}

// New returns a manager of the given services. Names must be unique.
func New(services ...*Service) (*Manager, error) {
	m := &Manager{services: make(map[string]*Service, len(services))}
	for _, s := range services {
		if _, dup := m.services[s.Name()]; dup {
			return nil, fmt.Errorf("new manager: duplicate service %q", s.Name())
		}
		m.services[s.Name()] = s
		m.order = append(m.order, s.Name())
	}
	return m, nil
}

// Names lists the services in configuration order.
func (m *Manager) Names() []string { return slices.Clone(m.order) }

// Services lists the services in configuration order.
func (m *Manager) Services() []*Service {
	out := make([]*Service, 0, len(m.order))
	for _, n := range m.order {
		out = append(out, m.services[n])
	}
	return out
}

// Lookup returns the named service; "" means the only one. The error says
// which names exist.
func (m *Manager) Lookup(name string) (*Service, error) {
	if name == "" {
		if len(m.order) == 1 {
			return m.services[m.order[0]], nil
		}
		return nil, fmt.Errorf("several services: say which one (%s)", strings.Join(m.order, ", "))
	}
	s, ok := m.services[name]
	if !ok {
		return nil, fmt.Errorf("no service %q (services: %s)", name, strings.Join(m.order, ", "))
	}
	return s, nil
}
