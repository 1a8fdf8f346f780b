package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sanasend/sanasend-bot/config"
	"github.com/sanasend/sanasend-bot/manager"
)

// runCheck validates the config and the host, printing each check; it
// fails when any check fails (warnings pass).
func runCheck(ctx context.Context, configPath string, args []string, out io.Writer) error {
	fs := newFlagSet("check", out)
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		fmt.Fprintf(out, "✗ config %s\n%v\n", configPath, err)
		return exitError(1)
	}
	fmt.Fprintf(out, "✓ config %s (%d services)\n", cfg.Path(), len(cfg.Services))
	m, err := newManager(cfg, nopLogger())
	if err != nil {
		return err
	}
	failed := 0
	for _, s := range m.Services() {
		fmt.Fprintf(out, "service %s (%s)\n", s.Name(), s.Config().Dir)
		for _, c := range s.HostChecks(ctx) {
			mark := "✓"
			switch c.Verdict {
			case manager.VerdictWarn:
				mark = "!"
			case manager.VerdictFail:
				mark = "✗"
				failed++
			}
			fmt.Fprintf(out, "  %s %-16s %s\n", mark, c.Name, c.Detail)
		}
	}
	if failed > 0 {
		fmt.Fprintf(out, "%d checks failed\n", failed)
		return exitError(1)
	}
	return nil
}
