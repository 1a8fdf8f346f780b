package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

// runHelper runs the helper named by the environment, if any:
//
//   - "sleep" ignores SIGTERM, says "ready" and sleeps until killed: a
//     process only cgroup.kill (or SIGKILL) ends.
//   - "delegated" is the bot without root: Find, then Create a child, start
//     a sleeper into it, Kill, WaitEmpty and Remove it. It prints "ok
//     <parent>" and exits 0, or prints "unavailable <reason> <sentence>" and
//     exits 3, or prints the error and exits 1.
func runHelper(name string) (int, bool) {
	switch name {
	case "":
		return 0, false
	case "sleep":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		for {
			time.Sleep(time.Hour)
		}
	case "delegated":
		h, err := Find()
		var ue *UnavailableError
		if errors.As(err, &ue) {
			fmt.Printf("unavailable %d %s\n", ue.Reason, ue.Sentence())
			return 3, true
		}
		if err == nil {
			err = delegated(h)
		}
		if err != nil {
			fmt.Println(err)
			return 1, true
		}
		fmt.Println("ok", h.Parent)
		return 0, true
	}
	fmt.Fprintf(os.Stderr, "no helper %q\n", name)
	return 2, true
}

func delegated(h Hierarchy) error {
	g, err := h.Create("child")
	if err != nil {
		return err
	}
	f, err := g.Open()
	if err != nil {
		return err
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), helperEnv+"=sleep")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	err = cmd.Start()
	f.Close()
	if err != nil {
		return fmt.Errorf("start into %s: %w", g.Path(), err)
	}
	procs, err := g.Procs()
	if err != nil {
		return err
	}
	if !slices.Contains(procs, cmd.Process.Pid) {
		return fmt.Errorf("procs %v: no %d", procs, cmd.Process.Pid)
	}
	if err := g.Kill(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.WaitEmpty(ctx); err != nil {
		return err
	}
	_ = cmd.Wait()
	return g.Remove()
}
