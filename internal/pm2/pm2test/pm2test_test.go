//go:build !windows

package pm2test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeNPM stands in for npm: it records its argv, waits a little (so that
// concurrent installs overlap) and, unless FAKE_NPM_FAIL is set, lays out
// what `npm install --prefix DIR pm2@VERSION` leaves.
const fakeNPM = `#!/usr/bin/env node
const fs = require('fs'), path = require('path');
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_NPM_RECORD, args.join(' ') + '\n');
setTimeout(() => {
  if (process.env.FAKE_NPM_FAIL) {
    process.stderr.write('npm error code ENOTFOUND\nnpm error network request to https://registry.npmjs.org/pm2 failed\n');
    process.exit(1);
  }
  const prefix = args[args.indexOf('--prefix') + 1];
  const version = args.find(a => a.startsWith('pm2@')).slice(4);
  fs.mkdirSync(path.join(prefix, 'node_modules', 'pm2'), {recursive: true});
  fs.mkdirSync(path.join(prefix, 'node_modules', '.bin'), {recursive: true});
  fs.writeFileSync(path.join(prefix, 'node_modules', 'pm2', 'package.json'), JSON.stringify({name: 'pm2', version}));
  fs.writeFileSync(path.join(prefix, 'node_modules', '.bin', 'pm2'), '', {mode: 0o755});
}, 300);
`

// withFakeNPM puts the fake npm first on PATH and returns its record file.
func withFakeNPM(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH")
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(fakeNPM), 0o755); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(t.TempDir(), "npm-calls")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_NPM_RECORD", record)
	return record
}

func TestConcurrentInstallsRunNPMOnce(t *testing.T) {
	record := withFakeNPM(t)
	dir := filepath.Join(t.TempDir(), "pm2")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = install(dir) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("install %d: %v", i, err)
		}
	}
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(string(data)), "\n")
	want := "install --prefix " + dir + " --no-audit --no-fund --loglevel=error pm2@" + Version
	if len(calls) != 1 || calls[0] != want {
		t.Errorf("npm calls = %q; want one: %q", calls, want)
	}
	if !installed(dir) {
		t.Errorf("installed(%s) = false after the install", dir)
	}
	t.Setenv(DirEnv, dir)
	if got := Bin(t); got != filepath.Join(dir, "node_modules", ".bin", "pm2") {
		t.Errorf("Bin = %s", got)
	}
}

func TestInstallFailureSaysWhy(t *testing.T) {
	withFakeNPM(t)
	t.Setenv("FAKE_NPM_FAIL", "1")
	dir := filepath.Join(t.TempDir(), "pm2")
	err := install(dir)
	if err == nil || !strings.Contains(err.Error(), "npm install pm2@"+Version) || !strings.Contains(err.Error(), "ENOTFOUND") {
		t.Errorf("install = %v; want npm's reason", err)
	}
	if installed(dir) {
		t.Errorf("installed after a failed install")
	}
}
