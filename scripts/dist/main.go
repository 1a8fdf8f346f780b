// Command dist builds the release archives of sanasend-bot: one per
// platform, each holding the binary (stamped with version and commit),
// README.md, LICENSE when there is one, and deploy/ (example config,
// systemd unit, Slack manifests, logrotate snippet), under a top dir
// sanasend-bot-<version>-<os>-<arch>/; a tar.gz, or a zip for windows.
// SHA256SUMS beside them lists the archives in sha256sum's format.
//
// The archives are reproducible: entries sorted, every time set to
// SOURCE_DATE_EPOCH (the commit's time in `make dist`), owner 0:0 without
// names, modes 0755 for the binary and dirs and 0644 for the rest, and the
// binary built with CGO_ENABLED=0 and -trimpath, so the same sources,
// toolchain, version, commit and epoch give the same bytes.
//
//	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \
//	  go run ./scripts/dist -version v1.2.0 -commit "$(git rev-parse HEAD)" -out dist
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sanasend/sanasend-bot/internal/human"
)

// defaultPlatforms are the platforms of a release.
const defaultPlatforms = "linux/amd64,linux/arm64,darwin/arm64,windows/amd64"

// sumsName is the checksum file written beside the archives.
const sumsName = "SHA256SUMS"

// Modes of the archives' entries, whatever the files' modes on disk.
const (
	modeExec = 0o755 // the binary and the dirs
	modeFile = 0o644 // everything else
)

// zipEpochMin is the earliest time a zip entry can hold (MS-DOS time):
// 1980-01-01 00:00 UTC, in seconds since 1970.
const zipEpochMin = 315532800

// safeName is what a version or commit may be made of: it becomes part of
// file names and of the binary's ldflags.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// platform is a GOOS/GOARCH pair.
type platform struct {
	OS, Arch string
}

func (p platform) String() string { return p.OS + "/" + p.Arch }

// binaryName is the binary's file name on p.
func (p platform) binaryName() string {
	if p.OS == "windows" {
		return "sanasend-bot.exe"
	}
	return "sanasend-bot"
}

// archiveExt is ".zip" for windows, ".tar.gz" elsewhere.
func (p platform) archiveExt() string {
	if p.OS == "windows" {
		return ".zip"
	}
	return ".tar.gz"
}

// parsePlatforms reads "linux/amd64,windows/amd64" (commas or spaces, as
// the Makefile's PLATFORMS).
func parsePlatforms(s string) ([]platform, error) {
	var ps []platform
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		goos, goarch, ok := strings.Cut(f, "/")
		if !ok || !safeName.MatchString(goos) || !safeName.MatchString(goarch) {
			return nil, fmt.Errorf("platform %q: want os/arch, e.g. linux/amd64", f)
		}
		p := platform{OS: goos, Arch: goarch}
		if slices.Contains(ps, p) {
			return nil, fmt.Errorf("platform %s: listed twice", p)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// options says what to build and where.
type options struct {
	Root      string     // the repository: cmd/sanasend-bot, README.md, deploy/
	Out       string     // where the archives and SHA256SUMS go; created if missing
	Version   string     // main.version, and part of the archives' names
	Commit    string     // main.commit
	Epoch     time.Time  // every entry's time
	Platforms []platform // at least one
	Go        string     // the go command
}

func (o options) validate() error {
	var errs []error
	if o.Root == "" || o.Out == "" {
		errs = append(errs, errors.New("root and out are required"))
	}
	if !safeName.MatchString(o.Version) {
		errs = append(errs, fmt.Errorf("version %q: want letters, digits and ._+- (e.g. v1.2.0)", o.Version))
	}
	if !safeName.MatchString(o.Commit) {
		errs = append(errs, fmt.Errorf("commit %q: want letters, digits and ._+- (e.g. a git hash)", o.Commit))
	}
	if o.Epoch.Unix() < zipEpochMin {
		errs = append(errs, fmt.Errorf("epoch %d: before 1980, which a zip entry cannot hold (set SOURCE_DATE_EPOCH to the commit's time)", o.Epoch.Unix()))
	}
	if len(o.Platforms) == 0 {
		errs = append(errs, errors.New("no platform"))
	}
	if o.Go == "" {
		errs = append(errs, errors.New("no go command"))
	}
	return errors.Join(errs...)
}

// topDir is the archive's top dir for p: sanasend-bot-<version>-<os>-<arch>.
func (o options) topDir(p platform) string {
	return fmt.Sprintf("sanasend-bot-%s-%s-%s", o.Version, p.OS, p.Arch)
}

// entry is one file or dir of an archive; name is slash-separated, a dir's
// ends with "/".
type entry struct {
	name string
	mode int64
	data []byte
}

func (e entry) isDir() bool { return strings.HasSuffix(e.name, "/") }

// docFiles reads what goes beside the binary: README.md, LICENSE if
// present, and every regular file of deploy/ (not its subdirs), as
// entries relative to the top dir, sorted.
func docFiles(root string) ([]entry, error) {
	var es []entry
	add := func(rel string, optional bool) error {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", rel, err)
		}
		es = append(es, entry{name: rel, mode: modeFile, data: data})
		return nil
	}
	if err := add("README.md", false); err != nil {
		return nil, err
	}
	if err := add("LICENSE", true); err != nil {
		return nil, err
	}
	des, err := os.ReadDir(filepath.Join(root, "deploy"))
	if err != nil {
		return nil, fmt.Errorf("read deploy/: %w", err)
	}
	n := 0
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		if err := add("deploy/"+de.Name(), false); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("deploy/ holds no file")
	}
	es = append(es, entry{name: "deploy/", mode: modeExec})
	return es, nil
}

// archiveEntries is the archive's content for a platform: the top dir,
// the binary and the docs beneath it, sorted by name (a dir before what it
// holds).
func archiveEntries(top, binName string, bin []byte, docs []entry) []entry {
	es := []entry{{name: top + "/", mode: modeExec}, {name: top + "/" + binName, mode: modeExec, data: bin}}
	for _, d := range docs {
		d.name = top + "/" + d.name
		es = append(es, d)
	}
	slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return es
}

// writeTarGz writes es as a gzipped tar: mtime epoch, owner 0:0 without
// names, no gzip name or time. The default compression: the best one
// saves 0.5% of a binary for three times the time.
func writeTarGz(w io.Writer, es []entry, epoch time.Time) error {
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: epoch.UTC(), Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.isDir() {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("tar %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// writeZip writes es as a zip: every entry's time epoch (UTC), modes in
// the Unix attributes, files deflated.
func writeZip(w io.Writer, es []entry, epoch time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: epoch.UTC()}
		mode := fs.FileMode(e.mode)
		if e.isDir() {
			h.Method = zip.Store
			mode |= fs.ModeDir
		}
		h.SetMode(mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("zip %s: %w", e.name, err)
		}
		if _, err := fw.Write(e.data); err != nil {
			return fmt.Errorf("zip %s: %w", e.name, err)
		}
	}
	return zw.Close()
}

// buildBinary cross-builds cmd/sanasend-bot for p into dir and returns
// its bytes.
func buildBinary(ctx context.Context, o options, p platform, dir string) ([]byte, error) {
	out := filepath.Join(dir, p.OS+"-"+p.Arch+"-"+p.binaryName())
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s", o.Version, o.Commit)
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/sanasend-bot")
	cmd.Dir = o.Root
	// Later entries win: the platform and a static binary whatever the
	// caller's environment says.
	cmd.Env = append(os.Environ(), "GOOS="+p.OS, "GOARCH="+p.Arch, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build for %s: %w\n%s", p, err, stderr.Bytes())
	}
	return os.ReadFile(out)
}

// writeFileAtomic writes path through a temporary file beside it.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails once renamed
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(modeFile); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// result is one archive written.
type result struct {
	Name   string // file name in Out
	SHA256 [sha256.Size]byte
	Size   int64
}

// run builds every platform's archive into o.Out and writes SHA256SUMS
// over them (only those: a stale archive in Out is not listed).
func run(ctx context.Context, o options) ([]result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	docs, err := docFiles(o.Root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.Out, err)
	}
	tmp, err := os.MkdirTemp("", "sanasend-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var results []result
	for _, p := range o.Platforms {
		bin, err := buildBinary(ctx, o, p, tmp)
		if err != nil {
			return nil, err
		}
		top := o.topDir(p)
		es := archiveEntries(top, p.binaryName(), bin, docs)
		var buf bytes.Buffer
		if p.OS == "windows" {
			err = writeZip(&buf, es, o.Epoch)
		} else {
			err = writeTarGz(&buf, es, o.Epoch)
		}
		if err != nil {
			return nil, fmt.Errorf("archive for %s: %w", p, err)
		}
		name := top + p.archiveExt()
		if err := writeFileAtomic(filepath.Join(o.Out, name), func(w io.Writer) error {
			_, err := w.Write(buf.Bytes())
			return err
		}); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
		results = append(results, result{Name: name, SHA256: sha256.Sum256(buf.Bytes()), Size: int64(buf.Len())})
	}
	slices.SortFunc(results, func(a, b result) int { return strings.Compare(a.Name, b.Name) })
	if err := writeFileAtomic(filepath.Join(o.Out, sumsName), func(w io.Writer) error {
		_, err := w.Write(sums(results))
		return err
	}); err != nil {
		return nil, fmt.Errorf("write %s: %w", sumsName, err)
	}
	return results, nil
}

// sums is SHA256SUMS for rs, in sha256sum's text format ("<hex>  <name>").
func sums(rs []result) []byte {
	var b bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&b, "%x  %s\n", r.SHA256, path.Base(r.Name))
	}
	return b.Bytes()
}

// epochFromEnv reads SOURCE_DATE_EPOCH (seconds since 1970).
func epochFromEnv(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, errors.New("SOURCE_DATE_EPOCH is not set: `make dist` sets it to the commit's time (git log -1 --format=%ct)")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: not a number of seconds", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

func main() {
	if err := mainErr(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func mainErr(args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("dist", flag.ContinueOnError)
	var o options
	fset.StringVar(&o.Root, "root", ".", "the repository's root")
	fset.StringVar(&o.Out, "out", "dist", "where the archives and "+sumsName+" go")
	fset.StringVar(&o.Version, "version", "", "the version stamped in the binary and named in the archives (required)")
	fset.StringVar(&o.Commit, "commit", "", "the commit stamped in the binary (required)")
	fset.StringVar(&o.Go, "go", "go", "the go command")
	platforms := fset.String("platforms", defaultPlatforms, "os/arch list, separated by commas or spaces")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fset.Arg(0))
	}
	var err error
	if o.Platforms, err = parsePlatforms(*platforms); err != nil {
		return err
	}
	if o.Epoch, err = epochFromEnv(os.Getenv("SOURCE_DATE_EPOCH")); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rs, err := run(ctx, o)
	if err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Fprintf(stdout, "%s (%s, sha256 %x…)\n", filepath.Join(o.Out, r.Name), human.Bytes(uint64(r.Size)), r.SHA256[:6])
	}
	fmt.Fprintln(stdout, filepath.Join(o.Out, sumsName))
	return nil
}
