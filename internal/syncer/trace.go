package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/rsync"
)

// TraceField is one "Key: value" line of a trace file. A value may span
// lines.
type TraceField struct {
	Key   string
	Value string
}

// Trace is a trace file in Debian ftpsync's layout: a first line with the
// date as `date -u` prints it, then "Key: value" fields. Multi-line values
// continue on lines starting with a space; an empty line inside a value is
// " ." and a line starting with "." gets one more (as in deb822).
type Trace struct {
	// Date is the first line, when the file has one (UTC, to the second).
	Date   time.Time
	Fields []TraceField
}

// Get returns the first value of key ("" when absent).
func (t Trace) Get(key string) string {
	for _, f := range t.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

// traceDateLayout is `date -u` in the C locale.
const traceDateLayout = time.UnixDate

var errBadTraceKey = errors.New("bad trace key")

func checkTraceKey(k string) error {
	if k == "" || k != strings.TrimSpace(k) || strings.ContainsAny(k, ":\n\r") || k[0] == '.' {
		return fmt.Errorf("%w %q", errBadTraceKey, k)
	}
	return nil
}

// Marshal renders the trace. Keys must be non-empty, without ':' or line
// breaks and without surrounding spaces.
func (t Trace) Marshal() ([]byte, error) {
	var b bytes.Buffer
	if !t.Date.IsZero() {
		b.WriteString(t.Date.UTC().Format(traceDateLayout))
		b.WriteByte('\n')
	}
	for _, f := range t.Fields {
		if err := checkTraceKey(f.Key); err != nil {
			return nil, err
		}
		lines := strings.Split(f.Value, "\n")
		b.WriteString(f.Key)
		b.WriteByte(':')
		if lines[0] != "" {
			b.WriteByte(' ')
			b.WriteString(lines[0])
		}
		b.WriteByte('\n')
		for _, l := range lines[1:] {
			b.WriteByte(' ')
			switch {
			case l == "":
				b.WriteByte('.')
			case l[0] == '.':
				b.WriteByte('.')
				b.WriteString(l)
			default:
				b.WriteString(l)
			}
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}

// ParseTrace parses a trace file. It is lenient with what other mirrors
// write: lines that are not fields are ignored.
func ParseTrace(data []byte) (Trace, error) {
	var t Trace
	if !bytes.HasSuffix(data, []byte("\n")) && len(data) > 0 {
		data = append(data[:len(data):len(data)], '\n')
	}
	lines := strings.Split(string(data), "\n")
	lines = lines[:len(lines)-1] // after the last "\n"
	if len(lines) > 0 {
		if d, err := time.Parse(traceDateLayout, lines[0]); err == nil {
			t.Date = d.UTC()
			lines = lines[1:]
		}
	}
	cur := -1
	for _, l := range lines {
		if strings.HasPrefix(l, " ") {
			if cur < 0 {
				continue
			}
			c := l[1:]
			if strings.HasPrefix(c, ".") {
				c = c[1:]
			}
			t.Fields[cur].Value += "\n" + c
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || checkTraceKey(k) != nil {
			cur = -1
			continue
		}
		v = strings.TrimPrefix(v, " ")
		t.Fields = append(t.Fields, TraceField{Key: k, Value: v})
		cur = len(t.Fields) - 1
	}
	return t, nil
}

// maxTraceSize bounds a fetched upstream trace.
const maxTraceSize = 1 << 20

// errNoFile: the upstream has no such file.
var errNoFile = errors.New("no such file upstream")

// fetch gets one small upstream file: loc is a path relative to the
// upstream or an rsync:// or http(s):// URL.
func (r *Syncer) fetch(ctx context.Context, loc, password string) ([]byte, error) {
	if isHTTP(loc) {
		return r.fetchHTTP(ctx, loc)
	}
	src, password := r.rsyncSource(loc, password)
	return r.fetchRsync(ctx, src, password)
}

func isHTTP(loc string) bool {
	return strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
}

// rsyncSource resolves an rsync location to a source argument and the
// password it may be sent.
func (r *Syncer) rsyncSource(loc, password string) (string, string) {
	if !strings.HasPrefix(loc, "rsync://") {
		return r.s.up.File(loc), password
	}
	if u, err := ParseUpstream(loc); err != nil || u.Host != r.s.up.Host || u.Port != r.s.up.Port {
		// The password is the upstream's; another daemon never gets it.
		return loc, ""
	}
	return loc, password
}

// stampRsync lists one upstream file with rsync --list-only and returns its
// size and modification time in one string: rsync's own quick check. No
// content moves, so the no-op check is one short exchange; the file is
// fetched only when the stamp changed.
func (r *Syncer) stampRsync(ctx context.Context, loc, password string) (string, error) {
	src, password := r.rsyncSource(loc, password)
	tmp := r.s.statePath(tmpDir)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	out, err := os.CreateTemp(tmp, "list-")
	if err != nil {
		return "", err
	}
	defer func() { out.Close(); os.Remove(out.Name()) }()
	sctx, cancel := r.smallCtx(ctx)
	defer cancel()
	err = rsync.Run(sctx, rsync.Cmd{Path: r.s.Rsync, Env: passwordEnv(password), Args: r.smallArgs("--list-only", "--no-h", "--", src), Output: out})
	if err = r.rsyncFileError(src, err); err != nil {
		return "", err
	}
	var entries []rsync.ListEntry
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	err = rsync.EachEntry(io.LimitReader(out, rsync.MaxListLine*2), func(e rsync.ListEntry) error {
		if entries = append(entries, e); len(entries) > 1 {
			return errors.New("lists more than one entry")
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("list %s: %w", redactURL(src), err)
	}
	if len(entries) != 1 || !entries[0].Mode.IsRegular() || entries[0].Size > maxTraceSize {
		return "", fmt.Errorf("list %s: not a regular file of at most %d bytes", redactURL(src), maxTraceSize)
	}
	return fmt.Sprintf("%d %s", entries[0].Size, entries[0].ModTime.UTC().Format(time.RFC3339)), nil
}

// smallArgs are the rsync arguments of a one-file exchange. They carry no
// --timeout or --contimeout: rsync's I/O timeout costs a one-file exchange
// some 25 ms; smallCtx bounds it instead.
func (r *Syncer) smallArgs(extra ...string) []string {
	// Small exchanges wait on Nagle's algorithm otherwise.
	return append([]string{"--no-motd", "--copy-links", "--sockopts=TCP_NODELAY"}, extra...)
}

// smallCtx bounds a one-file exchange by the job's connect and I/O
// timeouts together: rsync is killed when they are spent.
func (r *Syncer) smallCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if d := r.s.ConnectTimeout + r.s.Timeout; d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// rsyncFileError words a failed one-file rsync: errNoFile when the file
// is not there.
func (r *Syncer) rsyncFileError(src string, err error) error {
	var ee *rsync.ExitError
	if errors.As(err, &ee) && ee.Code == rsync.ExitPartial && (ee.Mentions("No such file") || ee.Mentions("link_stat")) {
		return fmt.Errorf("%s: %w", redactURL(src), errNoFile)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", redactURL(src), err)
	}
	return nil
}

func (r *Syncer) fetchHTTP(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("User-Agent", "mirrorkit-sync/"+r.version)
	client := r.http
	if client == nil {
		client = &http.Client{Timeout: r.s.ConnectTimeout + r.s.Timeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("fetch %s: %w (HTTP 404)", u, errNoFile)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: HTTP %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTraceSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	if len(b) > maxTraceSize {
		return nil, fmt.Errorf("fetch %s: larger than %d bytes", u, maxTraceSize)
	}
	return b, nil
}

// fetchRsync copies one file with rsync into a fresh temporary directory
// (so rsync's quick check never mistakes an old copy for the new one).
func (r *Syncer) fetchRsync(ctx context.Context, src, password string) ([]byte, error) {
	tmp := r.s.statePath(tmpDir)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tmp, "fetch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "file")
	sctx, cancel := r.smallCtx(ctx)
	defer cancel()
	err = rsync.Run(sctx, rsync.Cmd{Path: r.s.Rsync, Args: r.smallArgs("--max-size=1m", "--", src, dst), Env: passwordEnv(password)})
	if err = r.rsyncFileError(src, err); err != nil {
		return nil, fmt.Errorf("fetch %w", err)
	}
	b, err := os.ReadFile(dst)
	if errors.Is(err, os.ErrNotExist) {
		// --max-size skipped it, or it is not a regular file.
		return nil, fmt.Errorf("fetch %s: not a regular file of at most %d bytes", redactURL(src), maxTraceSize)
	}
	return b, err
}

func passwordEnv(password string) []string {
	if password == "" {
		return nil
	}
	return []string{"RSYNC_PASSWORD=" + password}
}

// redactURL drops the user from an rsync URL for messages.
func redactURL(s string) string {
	rest, ok := strings.CutPrefix(s, "rsync://")
	if !ok {
		return s
	}
	auth, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		auth = auth[i+1:]
	}
	return "rsync://" + auth + "/" + path
}

// traceFor builds this mirror's trace after a successful run.
func (r *Syncer) traceFor(res *Result, upstreamTrace []byte) Trace {
	now := r.clock.Now().UTC().Truncate(time.Second)
	var stage1, stage2 time.Duration
	for _, st := range res.Stages {
		if st.Stage == 1 {
			stage1 += st.Duration
		} else {
			stage2 += st.Duration
		}
	}
	secs := func(d time.Duration) string { return fmt.Sprint(int64(d.Round(time.Second) / time.Second)) }
	fields := []TraceField{
		{"Date", now.Format(time.RFC1123Z)},
		{"Date-Started", res.Started.UTC().Format(time.RFC1123Z)},
		{"Creator", "mirrorkit " + r.version},
		{"Running on host", r.hostname},
		{"Mirror-Name", r.s.traceName},
		{"Upstream-mirror", r.s.up.Host},
		{"Upstream-URL", r.s.up.Redacted()},
		{"Total bytes received in rsync", fmt.Sprint(res.BytesReceived)},
		{"Total time spent in stage1 rsync", secs(stage1)},
		{"Total time spent in stage2 rsync", secs(stage2)},
		{"Total time spent in rsync", secs(stage1 + stage2)},
		{"Files-Added", fmt.Sprint(res.Added)},
		{"Files-Changed", fmt.Sprint(res.Changed)},
		{"Files-Deleted", fmt.Sprint(res.Deleted)},
	}
	if res.Trigger != "" {
		fields = append(fields, TraceField{"Trigger", res.Trigger})
	}
	if len(upstreamTrace) > 0 {
		// Last, since it spans lines.
		fields = append(fields, TraceField{"Upstream-Trace", "\n" + strings.TrimRight(string(upstreamTrace), "\n")})
	}
	return Trace{Date: now, Fields: fields}
}

// hierarchyLine is this mirror's line in the trace chain, after the
// upstream's lines: trace file, mirror name, host, upstream host (ftpsync's
// four columns).
func (r *Syncer) hierarchyLine() string {
	return fmt.Sprintf("%s %s %s %s\n", r.s.traceName, r.s.traceName, r.hostname, r.s.up.Host)
}

// writeTraces writes the trace file and the trace chain into the tree.
func (r *Syncer) writeTraces(ctx context.Context, res *Result, upstreamTrace []byte, password string) error {
	dir := filepath.Join(r.s.Dest, filepath.FromSlash(r.s.traceDir))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	b, err := r.traceFor(res, upstreamTrace).Marshal()
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(r.s.Dest, filepath.FromSlash(r.s.tracePath())), b, 0o644); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	// The chain: the upstream's _hierarchy (excluded from the rsync runs,
	// so that ours is never overwritten) plus our line.
	up, err := r.fetch(ctx, r.s.hierarchyPath(), password)
	if err != nil && !errors.Is(err, errNoFile) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.log.Warn("cannot fetch the upstream's trace hierarchy; starting the chain here", "error", err)
		up = nil
	}
	var chain []byte
	for _, l := range strings.Split(string(up), "\n") {
		if strings.TrimSpace(l) != "" {
			chain = append(chain, l...)
			chain = append(chain, '\n')
		}
	}
	chain = append(chain, r.hierarchyLine()...)
	if err := writeFileAtomic(filepath.Join(r.s.Dest, filepath.FromSlash(r.s.hierarchyPath())), chain, 0o644); err != nil {
		return fmt.Errorf("trace hierarchy: %w", err)
	}
	return nil
}
