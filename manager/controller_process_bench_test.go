//go:build linux

package manager

import (
	"testing"

	"github.com/sanasend/sanasend-bot/internal/cgroup/cgrouptest"
)

// cgroupBenchService is a stand-in Service whose tree is its cgroup.
func cgroupBenchService(b *testing.B, env map[string]string) *Service {
	b.Helper()
	cfg := testServiceConfig(b, standinDir(b), env)
	cfg.Cgroup, cfg.CgroupParent = CgroupAuto, cgrouptest.Parent(b)
	return newTestServiceFrom(b, cfg)
}

// BenchmarkRestartVsManualCgroup is BenchmarkRestartVsManual with the
// service started into a cgroup of its own.
func BenchmarkRestartVsManualCgroup(b *testing.B) {
	benchRestartVsManual(b, cgroupBenchService(b, restartBenchSessions(b)))
}
