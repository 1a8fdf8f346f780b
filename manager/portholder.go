package manager

import (
	"context"
	"time"

	"github.com/sanasend/sanasend-bot/doctor"
)

// portHolderTimeout bounds the search for what holds a service's port.
const portHolderTimeout = 2 * time.Second

// portHolder says what listens on the service's port while none of its
// processes runs.
func (s *Service) portHolder(ctx context.Context, snap snapshot) *PortHolder {
	ctx, cancel := context.WithTimeout(ctx, portHolderTimeout)
	defer cancel()
	pid, cmd, ok, err := doctor.PortOwner(ctx, s.hostPort)
	if err != nil {
		s.log.Debug().Err(err).Msg("port holder")
	}
	h := &PortHolder{}
	if ok {
		h.PID, h.Command = pid, cmd
		_, h.Ours = snap.members[pid]
	}
	return h
}
