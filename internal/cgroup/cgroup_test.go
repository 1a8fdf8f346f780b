package cgroup

import (
	"errors"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"whatsapp", true},
		{"whatsapp-2", true},
		{"sanasend_whatsapp", true},
		{"whatsapp.service", true},
		{"svc@1", true},
		{strings.Repeat("a", 200), true},
		{"", false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"a/b", false},
		{"/abs", false},
		{"../escape", false},
		{"a b", false},
		{"a\nb", false},
		{"a\x00b", false},
		{"cgroup.procs", false},
		{"cgroup.kill", false},
		{"whätsapp", false},
		{strings.Repeat("a", 201), false},
	}
	for _, tt := range tests {
		err := ValidName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidName(%q) = %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// Mount tables of hosts unlike the one the tests run on, as the kernel
// writes them.
const (
	pureV2 = `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	v1Only = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
`
	noCgroups = `22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw
`
	// A subtree bind-mounted (root field not "/"), at a path with a space.
	subtree = `22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw
50 22 0:24 /bots /srv/cg\040root rw,relatime shared:8 - cgroup2 cgroup2 rw
`
	// Optional fields (shared:, master:) shift nothing after "-".
	manyOptional = `26 25 0:24 / /sys/fs/cgroup rw,nosuid shared:8 master:2 propagate_from:1 - cgroup2 cgroup2 rw
`
)

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		mountinfo  string
		self       string
		want       Hierarchy
		wantReason Reason
		wantDetail string
	}{
		{"pure v2, systemd unit", pureV2, "0::/system.slice/sanasend-bot.service\n",
			Hierarchy{Mount: "/sys/fs/cgroup", Self: "/system.slice/sanasend-bot.service", Parent: "/sys/fs/cgroup/system.slice/sanasend-bot.service"}, 0, ""},
		{"pure v2, root (container with its own cgroup namespace)", pureV2, "0::/\n",
			Hierarchy{Mount: "/sys/fs/cgroup", Self: "/", Parent: "/sys/fs/cgroup"}, 0, ""},
		{"hybrid, this kind of host", hybrid, "9:name=systemd:/\n4:memory:/process_api/32a0\n1:cpu:/\n0::/\n",
			Hierarchy{Mount: "/sys/fs/cgroup/unified", Self: "/", Parent: "/sys/fs/cgroup/unified"}, 0, ""},
		{"hybrid, user session", hybrid, "1:name=systemd:/user.slice/user-1000.slice\n0::/user.slice/user-1000.slice/session-3.scope\n",
			Hierarchy{Mount: "/sys/fs/cgroup/unified", Self: "/user.slice/user-1000.slice/session-3.scope", Parent: "/sys/fs/cgroup/unified/user.slice/user-1000.slice/session-3.scope"}, 0, ""},
		{"optional fields", manyOptional, "0::/a\n",
			Hierarchy{Mount: "/sys/fs/cgroup", Self: "/a", Parent: "/sys/fs/cgroup/a"}, 0, ""},
		{"subtree mount holding the bot", subtree, "0::/bots/sanasend\n",
			Hierarchy{Mount: "/srv/cg root", Self: "/bots/sanasend", Parent: "/srv/cg root/sanasend"}, 0, ""},
		{"subtree mount not holding the bot", subtree, "0::/other\n", Hierarchy{}, NoV2,
			"no cgroup v2 hierarchy is mounted (the bot's cgroup /other is outside every cgroup v2 mount)"},
		{"subtree mount, a sibling with the same prefix", subtree, "0::/botsx\n", Hierarchy{}, NoV2,
			"no cgroup v2 hierarchy is mounted (the bot's cgroup /botsx is outside every cgroup v2 mount)"},
		{"v1 only", v1Only, "2:cpu,cpuacct:/\n1:name=systemd:/init.scope\n", Hierarchy{}, NoV2,
			"no cgroup v2 hierarchy is mounted (cgroup v1 only)"},
		{"no cgroups at all", noCgroups, "", Hierarchy{}, NoV2,
			"no cgroup v2 hierarchy is mounted (no cgroup hierarchy at all)"},
		{"v2 mounted but no 0:: line", hybrid, "1:cpu:/\n", Hierarchy{}, NoV2,
			"no cgroup v2 hierarchy is mounted (/proc/self/cgroup has no cgroup v2 line)"},
		{"bot's cgroup deleted", pureV2, "0::/gone (deleted)\n", Hierarchy{}, NoV2,
			`no cgroup v2 hierarchy is mounted (the bot's cgroup v2 path is "/gone (deleted)")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.mountinfo), strings.NewReader(tt.self))
			if tt.wantReason == 0 {
				if err != nil || got != tt.want {
					t.Fatalf("Parse = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var ue *UnavailableError
			if !errors.As(err, &ue) || ue.Reason != tt.wantReason {
				t.Fatalf("Parse = %+v, %v; want an *UnavailableError with reason %d", got, err, tt.wantReason)
			}
			if ue.Sentence() != tt.wantDetail {
				t.Errorf("Sentence() = %q; want %q", ue.Sentence(), tt.wantDetail)
			}
		})
	}
}

func TestSentence(t *testing.T) {
	tests := []struct {
		err  UnavailableError
		want string
	}{
		{UnavailableError{Reason: NotLinux}, "cgroups exist on Linux only"},
		{UnavailableError{Reason: ReadOnly, Path: "/sys/fs/cgroup", Err: errors.New("read-only file system")},
			"the cgroup v2 hierarchy at /sys/fs/cgroup is mounted read-only"},
		{UnavailableError{Reason: NoPermission, Path: "/sys/fs/cgroup/system.slice/bot.service", Err: errors.New("permission denied")},
			"the bot may not create cgroups under /sys/fs/cgroup/system.slice/bot.service: run it as root, or give its systemd unit Delegate=yes"},
		{UnavailableError{Reason: InternalProcesses, Path: "/sys/fs/cgroup/x", Detail: "memory pids"},
			"/sys/fs/cgroup/x has processes of its own and controllers enabled for its children, so a child cgroup cannot take a process (cgroup v2's no-internal-process rule): give the bot an empty parent cgroup"},
		{UnavailableError{Reason: OldKernel, Detail: "5.10.0-28-amd64"},
			"the kernel is Linux 5.10.0-28-amd64: starting a service into a cgroup of its own needs Linux 5.14 or later"},
	}
	for _, tt := range tests {
		if got := tt.err.Sentence(); got != tt.want {
			t.Errorf("Sentence() = %q; want %q", got, tt.want)
		}
		// The cause is for the log only: never in the sentence.
		if tt.err.Err != nil && strings.Contains(tt.err.Sentence(), tt.err.Err.Error()) {
			t.Errorf("Sentence() %q shows the cause", tt.err.Sentence())
		}
		if !strings.HasPrefix(tt.err.Error(), "cgroup: "+tt.want) {
			t.Errorf("Error() = %q; want the sentence after \"cgroup: \"", tt.err.Error())
		}
	}
}
