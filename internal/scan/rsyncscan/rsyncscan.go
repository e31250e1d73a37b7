package rsyncscan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/rsync"
	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// Defaults for Options left zero.
const (
	// DefaultTimeout is rsync's --timeout (I/O inactivity) when neither the
	// Target nor Options set one. Large daemons can think for a while
	// before the first line of a big tree, so it is generous.
	DefaultTimeout = 5 * time.Minute
	// DefaultConnectTimeout is rsync's --contimeout: a mirror that does not
	// even accept the connection within it is unreachable.
	DefaultConnectTimeout = 30 * time.Second
)

// ErrUnknownModule: the daemon does not have the module the URL names, which
// is a configuration error in the mirror's registration, not an outage.
var ErrUnknownModule = errors.New("unknown rsync module")

// ErrTooLarge: ReadFile's file exists but is larger than the limit.
var ErrTooLarge = errors.New("file larger than the limit")

// Options configures a Scanner.
type Options struct {
	// Binary is the rsync program; "" looks "rsync" up on PATH.
	Binary string
	// Timeout is the I/O inactivity limit when the Target has none.
	Timeout time.Duration
	// ConnectTimeout bounds connecting to the daemon.
	ConnectTimeout time.Duration
	// Nice is the CPU niceness of the rsync processes, 1..19; 0 means
	// DefaultNice, -1 normal priority. A listing of a large mirror keeps
	// rsync busy for seconds; redirects on the same host come first.
	Nice int
}

// DefaultNice is the niceness scans run at unless told otherwise.
const DefaultNice = 10

// Scanner lists mirrors over rsync. It holds no state between calls and is
// safe for concurrent use.
type Scanner struct {
	opts Options
}

var _ scan.Scanner = (*Scanner)(nil)

// New returns a Scanner.
func New(opts Options) *Scanner {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	switch {
	case opts.Nice == 0:
		opts.Nice = DefaultNice
	case opts.Nice < 0:
		opts.Nice = 0
	case opts.Nice > 19:
		opts.Nice = 19
	}
	return &Scanner{opts: opts}
}

// Protocol is registry.RSYNC.
func (s *Scanner) Protocol() registry.Protocol { return registry.RSYNC }

// emitError marks an error from the caller's emit, which Scan returns as it is.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

// Scan lists t.URL (rsync://[user@]host[:port]/module/[path/]) recursively,
// limited to t.Prefixes, and emits every file, directory and symlink.
func (s *Scanner) Scan(ctx context.Context, t scan.Target, emit func(scan.Entry) error) error {
	base, err := baseURL(t.URL)
	if err != nil {
		return fmt.Errorf("rsyncscan: %w", err)
	}
	filters, err := prefixFilters(t.Prefixes)
	if err != nil {
		return fmt.Errorf("rsyncscan: list %s: %w", base, err)
	}
	args := append(s.commonArgs(t), "-rl", "--list-only", "--no-h")
	args = append(args, filters...)
	args = append(args, "--", base)

	lines := 0
	consume := func(r io.Reader) error { return readListing(batching{r: r}, t.Prefixes, emit, &lines) }
	var errs stderrReport
	err = rsync.Run(ctx, rsync.Cmd{Path: s.opts.Binary, Args: args, Env: env(t), Nice: s.opts.Nice, Stdout: consume, StderrLine: errs.add})
	if err == nil {
		return nil
	}
	var emitErr *emitError
	if errors.As(err, &emitErr) {
		return emitErr.err
	}
	var ee *rsync.ExitError
	if errors.As(err, &ee) && err == error(ee) && ee.Code == rsync.ExitPartial && errs.onlyDeniedDirs() {
		// Many mirrors serve without "ignore nonreadable": rsync then lists
		// a staged 0750 directory, reports that it cannot open it, and
		// exits 23. The listing is still complete for what any client can
		// fetch, which is what a scan is after.
		return nil
	}
	return classify("list "+base, err, lines > 0)
}

// stderrReport sorts rsync's complaints during a listing.
type stderrReport struct {
	deniedDirs, other int
}

func (r *stderrReport) add(line string) {
	switch {
	case strings.HasPrefix(line, "rsync error: "):
		// The summary of the complaints before it.
	case strings.Contains(line, `opendir "`) && strings.HasSuffix(line, "failed: Permission denied (13)"):
		r.deniedDirs++
	default:
		r.other++
	}
}

// onlyDeniedDirs: rsync failed only to read directories it is not allowed to.
func (r *stderrReport) onlyDeniedDirs() bool { return r.deniedDirs > 0 && r.other == 0 }

// readListing parses a listing from r and emits its entries under prefixes,
// counting the lines it read in *lines. An error from emit comes back as an
// *emitError.
func readListing(r io.Reader, prefixes []string, emit func(scan.Entry) error, lines *int) error {
	lr := rsync.NewListReader(r)
	for {
		le, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		*lines++
		e, ok, err := toEntry(le)
		if err != nil {
			return fmt.Errorf("listing line %d: %w", lr.Line(), err)
		}
		if !ok || !scan.Under(e.Path, prefixes) {
			continue
		}
		if err := emit(e); err != nil {
			return &emitError{err}
		}
	}
}

// batching reads a pipe in batches. rsync writes its listing one line per
// write; a reader that wakes for every line costs both processes a context
// switch per line, which on a two-core machine made the scan ~50% slower than
// rsync writing to /dev/null. After a short read, waiting a moment lets the
// pipe fill; rsync never blocks meanwhile, as the pipe holds far more than
// what arrives in that time.
type batching struct {
	r io.Reader
}

// batchWait is how long a short read waits for more; at rsync's listing
// speed (~20 MB/s) about 20 KiB arrive in it.
const batchWait = time.Millisecond

func (b batching) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == nil && n < len(p)/4 {
		time.Sleep(batchWait)
	}
	return n, err
}

// toEntry turns a listing line into an Entry; ok is false for lines that are
// not entries: the base directory itself, and devices, FIFOs and sockets,
// which no client can download.
func toEntry(le rsync.ListEntry) (e scan.Entry, ok bool, err error) {
	p, err := scan.CleanPath(le.Path)
	if err != nil {
		return e, false, err
	}
	if p == "/" {
		return e, false, nil
	}
	e = scan.Entry{Path: p, ModTime: le.ModTime, Precision: time.Second, Mode: le.Mode.Perm()}
	switch {
	case le.Mode.IsDir():
		e.Type = scan.Dir
	case le.Mode&fs.ModeSymlink != 0:
		e.Type, e.Target = scan.Symlink, le.LinkTarget
	case le.Mode.IsRegular():
		e.Type, e.Size = scan.File, le.Size
	default:
		return e, false, nil
	}
	return e, true, nil
}

// ReadFile copies the one file p (a clean, slash-led path under t.URL) into a
// private temporary directory and returns it if it has at most limitBytes bytes. Symlinks
// on the way are followed, as an HTTP client would. A file that is not there
// (or not readable to the daemon) is fs.ErrNotExist; one larger than limitBytes is
// ErrTooLarge.
func (s *Scanner) ReadFile(ctx context.Context, t scan.Target, p string, limitBytes int64) ([]byte, error) {
	base, err := baseURL(t.URL)
	if err != nil {
		return nil, fmt.Errorf("rsyncscan: %w", err)
	}
	if clean, err := scan.CleanPath(p); err != nil || clean != p || p == "/" {
		return nil, fmt.Errorf("rsyncscan: read %s: %q is not a clean file path", base, p)
	}
	if limitBytes < 0 {
		return nil, fmt.Errorf("rsyncscan: read %s%s: negative limit %d", base, p[1:], limitBytes)
	}
	op := "read " + base + p[1:]
	dir, err := os.MkdirTemp("", "mirrorkit-rsyncscan-*")
	if err != nil {
		return nil, fmt.Errorf("rsyncscan: %s: %w", op, err)
	}
	defer os.RemoveAll(dir)

	// The file is selected by filter rules on a transfer of the base rather
	// than named in the URL: a daemon expands wildcards in requested names
	// (a trace file called "a?b" would fetch "axb" as well), and the
	// client then rejects what it did not ask for.
	// rsync cannot express a limit of 0 (it means none) and misreads huge
	// ones; the size check after the copy is what enforces limitBytes exactly.
	limit := min(max(limitBytes, 1), 1<<40)
	args := append(s.commonArgs(t), "-rL", "--info=skip1", "--max-size="+strconv.FormatInt(limit, 10))
	args = append(args, fileFilters(p)...)
	args = append(args, "--", base, dir+string(filepath.Separator))
	overMax := false
	consume := func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.HasSuffix(sc.Text(), " is over max-size") {
				overMax = true
			}
		}
		return sc.Err()
	}
	runErr := rsync.Run(ctx, rsync.Cmd{Path: s.opts.Binary, Args: args, Env: env(t), Nice: s.opts.Nice, Stdout: consume})
	// Exit 23 says that something was not transferred. The one file asked
	// for either arrived (rsync renames it into place only when complete)
	// or, for whatever reason rsync gives, cannot be read: not there.
	var ee *rsync.ExitError
	if runErr != nil && (!errors.As(runErr, &ee) || ee.Code != rsync.ExitPartial) {
		return nil, classify(op, runErr, false)
	}
	local := filepath.Join(dir, filepath.FromSlash(p[1:]))
	fi, err := os.Lstat(local)
	switch {
	case errors.Is(err, fs.ErrNotExist) && runErr != nil:
		return nil, fmt.Errorf("rsyncscan: %s: %w: %w", op, fs.ErrNotExist, runErr)
	case errors.Is(err, fs.ErrNotExist) && overMax:
		return nil, fmt.Errorf("rsyncscan: %s: %w (%d bytes)", op, ErrTooLarge, limitBytes)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("rsyncscan: %s: %w", op, fs.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("rsyncscan: %s: %w", op, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("rsyncscan: %s: not a regular file (%v)", op, fi.Mode().Type())
	case fi.Size() > limitBytes:
		return nil, fmt.Errorf("rsyncscan: %s: %w (%d > %d bytes)", op, ErrTooLarge, fi.Size(), limitBytes)
	}
	data, err := os.ReadFile(local)
	if err != nil {
		return nil, fmt.Errorf("rsyncscan: %s: %w", op, err)
	}
	return data, nil
}

func (s *Scanner) commonArgs(t scan.Target) []string {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = s.opts.Timeout
	}
	return []string{
		"--no-motd",
		"--timeout=" + seconds(timeout),
		"--contimeout=" + seconds(s.opts.ConnectTimeout),
	}
}

// seconds rounds up: rsync takes whole seconds, and 0 would mean "no limit".
func seconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// env passes the password the only way that keeps it off the command line.
func env(t scan.Target) []string {
	if t.Password == "" {
		return nil
	}
	return []string{"RSYNC_PASSWORD=" + t.Password}
}

// baseURL checks an rsync:// base URL and returns it ending in "/", which
// makes rsync list the directory's content rather than the directory.
func baseURL(raw string) (string, error) {
	rest, ok := strings.CutPrefix(raw, "rsync://")
	if !ok {
		return "", fmt.Errorf("%q is not an rsync:// URL", raw)
	}
	host, p, _ := strings.Cut(rest, "/")
	module, _, _ := strings.Cut(p, "/")
	switch {
	case host == "" || strings.HasSuffix(host, "@"):
		return "", fmt.Errorf("URL %q has no host", raw)
	case module == "":
		return "", fmt.Errorf("URL %q names no module", raw)
	case strings.ContainsAny(p, "*?["):
		// The daemon would expand them as wildcards.
		return "", fmt.Errorf("URL %q: wildcard characters in the path are not supported", raw)
	}
	for _, c := range []byte(raw) {
		if c < ' ' || c == 0x7f {
			return "", fmt.Errorf("URL %q contains control characters", raw)
		}
	}
	if !strings.HasSuffix(raw, "/") {
		raw += "/"
	}
	return raw, nil
}

// prefixFilters turns scan prefixes into rsync filter rules that keep each
// prefix's whole subtree and the directories leading to it, and nothing
// else: for /fedora/linux/ that is
//
//	--include=/fedora/ --include=/fedora/linux/*** --exclude=*
//
// rsync does not descend into excluded directories, so a partial mirror's
// listing costs the daemon only the prefixes.
func prefixFilters(prefixes []string) ([]string, error) {
	if len(prefixes) == 0 {
		return nil, nil
	}
	var rules []string
	seen := map[string]bool{}
	for _, pre := range prefixes {
		if pre == "/" {
			return nil, nil // the whole tree
		}
		clean, err := scan.CleanPath(pre)
		if err != nil || clean+"/" != pre {
			return nil, fmt.Errorf("prefix %q is not a clean, slash-led, slash-ended path", pre)
		}
		rules = appendParents(rules, seen, clean)
		rules = append(rules, "--include="+pattern(clean+"/", "***"))
	}
	return append(rules, "--exclude=*"), nil
}

// fileFilters selects the single path p (and the directories leading to it).
func fileFilters(p string) []string {
	rules := appendParents(nil, map[string]bool{}, p)
	return append(rules, "--include="+pattern(p, ""), "--exclude=*")
}

// appendParents adds a directory-only include for each parent of the clean
// path p, below the root.
func appendParents(rules []string, seen map[string]bool, p string) []string {
	var parents []string
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		parents = append(parents, d)
	}
	for i := len(parents) - 1; i >= 0; i-- {
		if d := parents[i]; !seen[d] {
			seen[d] = true
			rules = append(rules, "--include="+pattern(d+"/", ""))
		}
	}
	return rules
}

// pattern makes an anchored rsync filter pattern matching the literal path
// lit, followed by the wildcard suffix. rsync treats a backslash as an
// escape only in patterns that contain a wildcard character, so the literal
// is escaped exactly when the whole pattern has one.
func pattern(lit, suffix string) string {
	if !strings.ContainsAny(lit+suffix, "*?[") {
		return lit + suffix
	}
	var b strings.Builder
	for i := 0; i < len(lit); i++ {
		switch c := lit[i]; c {
		case '\\', '*', '?', '[':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String() + suffix
}

// classify wraps an rsync failure in the scan sentinel that says what it
// means for the mirror. sawOutput says whether rsync had printed any of the
// listing: a timeout or a dropped connection before the first line means the
// mirror did not answer; after it, that the listing is incomplete.
func classify(op string, err error, sawOutput bool) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("rsyncscan: %s: %w", op, err)
	}
	var ee *rsync.ExitError
	if !errors.As(err, &ee) {
		switch {
		case errors.Is(err, rsync.ErrPartialLine):
			return fmt.Errorf("rsyncscan: %s: %w: %w", op, scan.ErrTruncated, err)
		case errors.Is(err, rsync.ErrMalformed), errors.Is(err, rsync.ErrLineTooLong):
			return fmt.Errorf("rsyncscan: %s: %w: %w", op, scan.ErrBadListing, err)
		}
		return fmt.Errorf("rsyncscan: %s: %w", op, err)
	}
	// The "@ERROR" lines are the daemon's own words, which pin the cause
	// down more precisely than the exit code (5 covers most of them).
	var kind error
	switch {
	case ee.Mentions("@ERROR: auth failed"), ee.Mentions("@ERROR: access denied"):
		kind = scan.ErrAuth
	case ee.Mentions("@ERROR: Unknown module"):
		kind = ErrUnknownModule
	case ee.Mentions("@ERROR: max connections"):
		kind = scan.ErrUnreachable
	}
	if kind == nil {
		switch ee.Code {
		case rsync.ExitSocketIO, rsync.ExitConnectTimeout, rsync.ExitTimeout:
			kind = scan.ErrUnreachable
			if sawOutput {
				kind = scan.ErrTruncated
			}
		case rsync.ExitStartClient:
			if ee.Mentions("Connection refused") || ee.Mentions("failed to connect") {
				kind = scan.ErrUnreachable
			}
		case rsync.ExitPartial:
			// A base directory (or ReadFile's path) that does not exist
			// is reported before any line; anything else under 23 is a
			// directory the listing could not read.
			if !sawOutput && ee.Mentions("No such file or directory") {
				kind = fs.ErrNotExist
			} else {
				kind = scan.ErrTruncated
			}
		case rsync.ExitStreamIO, rsync.ExitVanished, rsync.ExitSignal, rsync.ExitSignal1, rsync.ExitKilled:
			kind = scan.ErrTruncated
		}
	}
	if kind == nil {
		return fmt.Errorf("rsyncscan: %s: %w", op, err)
	}
	return fmt.Errorf("rsyncscan: %s: %w: %w", op, kind, err)
}
