package syncer

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Defaults for Job fields left zero. The CLI shows them in --help and the
// docs (docs/sync.md) quote them.
const (
	// DefaultStateDir is where a system-wide agent keeps its per-job state.
	DefaultStateDir = "/var/lib/mirrorkit/sync"
	// DefaultTimeout is rsync's --timeout: I/O inactivity that ends a run.
	// Big upstream daemons can think for minutes before the first file.
	DefaultTimeout = 10 * time.Minute
	// DefaultConnectTimeout is rsync's --contimeout.
	DefaultConnectTimeout = 60 * time.Second
	// DefaultMaxDeleteShare: a run refuses to delete more than 10% of the
	// tree. An archive that prunes a release at once deletes more; the
	// operator then allows it for one run (RunOptions.MaxDeleteShare).
	DefaultMaxDeleteShare = 0.10
	// DefaultTraceDir is where traces live, relative to the tree's root, as
	// in Debian's ftpsync.
	DefaultTraceDir = "project/trace"
	// DefaultHookTimeout bounds the hook command.
	DefaultHookTimeout = 5 * time.Minute
	// DefaultRetryAttempts is how many times a run is tried in all.
	DefaultRetryAttempts = 3
	// DefaultRetryInitial is the first backoff; each next one doubles.
	DefaultRetryInitial = 1 * time.Minute
	// DefaultRetryMax caps the backoff.
	DefaultRetryMax = 15 * time.Minute
)

// DefaultMetadata are the repository index patterns (rsync filter syntax)
// that stage 1 holds back: Debian/Ubuntu, RPM (Fedora, EPEL, openSUSE) and
// Arch/Parabola. Copying an index before the packages it lists is what
// makes clients fail with 404s and hash mismatches.
var defaultMetadata = []string{
	// Debian and derivatives.
	"dists/", "Packages*", "Sources*", "Contents-*", "i18n/", "Translation-*",
	"Release", "Release.gpg", "InRelease", "ls-lR*",
	// RPM repositories.
	"repodata/",
	// Arch Linux and derivatives: the databases, their compressed forms
	// and signatures (core.db is a symlink to core.db.tar.gz).
	"*.db", "*.db.tar.*", "*.db.sig", "*.db.tar.*.sig",
	"*.files", "*.files.tar.*", "*.files.sig", "*.files.tar.*.sig",
}

// defaultMetadataLast are the top indexes that sign or list other index
// files. They are renamed into place only after every other index file, so
// a client never reads an InRelease or repomd.xml naming an index file (a
// by-hash name, a new primary.xml.gz) that is not there yet.
var defaultMetadataLast = []string{
	"Release", "Release.gpg", "InRelease",
	"repomd.xml", "repomd.xml.asc", "repomd.xml.key",
}

// DefaultMetadata returns a copy of the default metadata patterns.
func DefaultMetadata() []string { return append([]string(nil), defaultMetadata...) }

// DefaultMetadataLast returns a copy of the default last-index patterns.
func DefaultMetadataLast() []string { return append([]string(nil), defaultMetadataLast...) }

// Job is one mirror sync: an upstream, a destination and how to copy. The
// zero value of each optional field means its documented default. A Job is
// plain data, decoded by the CLI from flags or from the config file.
type Job struct {
	// Name identifies the job in logs, state and traces: letters, digits,
	// ".", "_" and "-".
	Name string `json:"name"`
	// Upstream is rsync://[user@]host[:port]/module[/path] or
	// [user@]host::module[/path].
	Upstream string `json:"upstream"`
	// Dest is the local tree the mirror serves.
	Dest string `json:"dest"`
	// StateDir holds the job's lock, status and saved trace, in
	// StateDir/Name. It must not be inside Dest.
	StateDir string `json:"state_dir"`
	// Rsync is the rsync binary; "" looks it up on PATH.
	Rsync string `json:"rsync,omitempty"`

	// Include and Exclude are rsync filter patterns; includes are tried
	// first, then IncludeFrom files, excludes, ExcludeFrom files.
	Include     []string `json:"include,omitempty"`
	Exclude     []string `json:"exclude,omitempty"`
	IncludeFrom []string `json:"include_from,omitempty"`
	ExcludeFrom []string `json:"exclude_from,omitempty"`
	// Subtrees makes a partial mirror: only these directories (relative to
	// the upstream, e.g. "releases/40/") are copied, and nothing outside
	// them is deleted.
	Subtrees []string `json:"subtrees,omitempty"`

	// BandwidthLimit is rsync's --bwlimit in KiB/s; 0 is unlimited.
	BandwidthLimit int `json:"bwlimit,omitempty"`
	// PasswordFile holds the daemon password on its first line. It must
	// not be accessible by group or others. The password reaches rsync as
	// RSYNC_PASSWORD, never on its command line.
	PasswordFile string `json:"password_file,omitempty"`
	// Timeout is rsync's --timeout; ConnectTimeout its --contimeout.
	Timeout        time.Duration `json:"timeout,omitempty"`
	ConnectTimeout time.Duration `json:"contimeout,omitempty"`

	// Metadata are the index patterns stage 1 holds back; nil means
	// DefaultMetadata(), an empty non-nil list means none (a plain file
	// tree: stage 1 then copies everything).
	Metadata []string `json:"metadata,omitempty"`
	// MetadataLast are the top indexes copied after all other metadata;
	// nil means DefaultMetadataLast(). They are metadata too: listing them
	// in Metadata is not needed.
	MetadataLast []string `json:"metadata_last,omitempty"`
	// MaxDeleteShare is the largest share of the tree (0 < s <= 1) one run
	// may delete; 0 means DefaultMaxDeleteShare, 1 means no limit.
	MaxDeleteShare float64 `json:"max_delete_share,omitempty"`

	// UpstreamTrace is the upstream file whose change means "something to
	// sync": a path relative to the upstream ("project/trace/master",
	// "lastupdate"), or an rsync://, http:// or https:// URL. "" syncs on
	// every run.
	UpstreamTrace string `json:"upstream_trace,omitempty"`
	// TraceDir is where this mirror's trace is written, relative to Dest;
	// "" means DefaultTraceDir.
	TraceDir string `json:"trace_dir,omitempty"`
	// TraceName is the trace file's name; "" means Name. Debian's
	// convention is the mirror's host name.
	TraceName string `json:"trace_name,omitempty"`
	// InProgressFile, when set, is a file (relative to Dest, e.g.
	// "Archive-Update-in-Progress-mirror.example.org") present while a run
	// changes the tree. A run after a crash removes a stale one.
	InProgressFile string `json:"in_progress_file,omitempty"`

	// Hook is a command (argv, no shell) run after a successful sync with
	// MIRRORKIT_* variables describing it.
	Hook        []string      `json:"hook,omitempty"`
	HookTimeout time.Duration `json:"hook_timeout,omitempty"`

	// Retry says how transient failures are retried.
	Retry Retry `json:"retry,omitzero"`
}

// Retry is the backoff for transient rsync failures.
type Retry struct {
	// Attempts is the total number of tries; 0 means
	// DefaultRetryAttempts, 1 means no retry.
	Attempts int `json:"attempts,omitempty"`
	// Initial is the first wait; 0 means DefaultRetryInitial.
	Initial time.Duration `json:"initial,omitempty"`
	// Max caps a wait; 0 means DefaultRetryMax.
	Max time.Duration `json:"max,omitempty"`
}

// FieldError is one problem with one Job field, named as in the JSON form.
type FieldError struct {
	Field   string
	Problem string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidationError lists every problem Validate found.
type ValidationError struct {
	Job    string
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Job != "" {
		fmt.Fprintf(&b, "sync job %q: ", e.Job)
	} else {
		b.WriteString("sync job: ")
	}
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// ErrInvalidJob is wrapped by every *ValidationError.
var ErrInvalidJob = errors.New("invalid sync job")

func (e *ValidationError) Unwrap() error { return ErrInvalidJob }

var jobNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate reports every problem with the job at once, each naming its
// field. It reads the file system only to check that the include/exclude
// files and the password file exist and that the password file is private.
func (j *Job) Validate() error {
	var errs []FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if !jobNameRE.MatchString(j.Name) {
		add("name", "%q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", j.Name)
	}
	up, upErr := ParseUpstream(j.Upstream)
	if j.Upstream == "" {
		add("upstream", "missing (rsync://host[:port]/module/path or host::module/path)")
	} else if upErr != nil {
		add("upstream", "%v", upErr)
	}
	checkDir := func(field, p string) {
		switch {
		case p == "":
			add(field, "missing")
		case !filepath.IsAbs(p):
			add(field, "%q must be an absolute path", p)
		case filepath.Clean(p) == "/":
			add(field, "must not be the root directory")
		}
	}
	checkDir("dest", j.Dest)
	checkDir("state_dir", j.StateDir)
	if j.Dest != "" && j.StateDir != "" && filepath.IsAbs(j.Dest) && filepath.IsAbs(j.StateDir) {
		d, s := filepath.Clean(j.Dest), filepath.Clean(j.StateDir)
		if s == d || strings.HasPrefix(s, d+string(filepath.Separator)) {
			add("state_dir", "%q is inside dest %q: rsync would delete it", j.StateDir, j.Dest)
		}
	}
	checkPatterns := func(field string, pats []string) {
		for _, p := range pats {
			switch {
			case strings.TrimSpace(p) == "":
				add(field, "empty pattern")
			case strings.ContainsAny(p, "\n\r\x00"):
				add(field, "pattern %q contains a line break or NUL", p)
			case strings.Trim(p, "/*") == "" && strings.Contains(p, "*"):
				add(field, "pattern %q matches the whole tree", p)
			}
		}
	}
	checkPatterns("include", j.Include)
	checkPatterns("exclude", j.Exclude)
	checkPatterns("metadata", j.Metadata)
	checkPatterns("metadata_last", j.MetadataLast)
	for _, ff := range []struct {
		field string
		files []string
	}{{"include_from", j.IncludeFrom}, {"exclude_from", j.ExcludeFrom}} {
		field := ff.field
		for _, f := range ff.files {
			if !filepath.IsAbs(f) {
				add(field, "%q must be an absolute path", f)
			} else if _, err := os.Stat(f); err != nil {
				add(field, "%v", err)
			}
		}
	}
	for _, s := range j.Subtrees {
		if _, err := cleanRel(s); err != nil {
			add("subtrees", "%q: %v", s, err)
		}
	}
	if j.BandwidthLimit < 0 {
		add("bwlimit", "%d is negative", j.BandwidthLimit)
	}
	if j.PasswordFile != "" {
		if _, err := readPasswordFile(j.PasswordFile); err != nil {
			add("password_file", "%v", err)
		}
		if upErr == nil && up.User == "" {
			add("password_file", "set, but the upstream URL names no user (rsync://USER@host/module/)")
		}
	}
	if j.Timeout < 0 {
		add("timeout", "%v is negative", j.Timeout)
	} else if j.Timeout > 0 && j.Timeout < time.Second {
		add("timeout", "%v is below rsync's 1s resolution", j.Timeout)
	}
	if j.ConnectTimeout < 0 {
		add("contimeout", "%v is negative", j.ConnectTimeout)
	} else if j.ConnectTimeout > 0 && j.ConnectTimeout < time.Second {
		add("contimeout", "%v is below rsync's 1s resolution", j.ConnectTimeout)
	}
	if j.MaxDeleteShare < 0 || j.MaxDeleteShare > 1 {
		add("max_delete_share", "%v is not in (0, 1] (0.1 is 10%% of the tree)", j.MaxDeleteShare)
	}
	if j.UpstreamTrace != "" {
		if err := checkTraceLocation(j.UpstreamTrace); err != nil {
			add("upstream_trace", "%v", err)
		}
	}
	if j.TraceDir != "" {
		if _, err := cleanRel(j.TraceDir); err != nil {
			add("trace_dir", "%q: %v", j.TraceDir, err)
		}
	}
	if j.TraceName != "" && (!jobNameRE.MatchString(j.TraceName) || strings.HasPrefix(j.TraceName, "_")) {
		add("trace_name", "%q must be letters, digits, '.', '_' or '-', not starting with '_'", j.TraceName)
	}
	if j.InProgressFile != "" {
		if rel, err := cleanRel(j.InProgressFile); err != nil {
			add("in_progress_file", "%q: %v", j.InProgressFile, err)
		} else if strings.Contains(rel, "/") {
			add("in_progress_file", "%q must be a file name at the tree's root", j.InProgressFile)
		}
	}
	if len(j.Hook) > 0 && j.Hook[0] == "" {
		add("hook", "empty command")
	}
	if j.HookTimeout < 0 {
		add("hook_timeout", "%v is negative", j.HookTimeout)
	}
	if j.Retry.Attempts < 0 {
		add("retry.attempts", "%d is negative", j.Retry.Attempts)
	}
	if j.Retry.Initial < 0 || j.Retry.Max < 0 {
		add("retry", "negative backoff")
	}
	if j.Retry.Max > 0 && j.Retry.Initial > j.Retry.Max {
		add("retry", "initial backoff %v exceeds max %v", j.Retry.Initial, j.Retry.Max)
	}
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Job: j.Name, Fields: errs}
}

// cleanRel checks a slash-separated path relative to a tree's root and
// returns it cleaned, without leading or trailing slashes.
func cleanRel(p string) (string, error) {
	if strings.ContainsAny(p, "\n\r\x00") {
		return "", errors.New("contains a line break or NUL")
	}
	c := strings.Trim(path.Clean("/"+p), "/")
	if c == "" {
		return "", errors.New("names the tree's root")
	}
	for _, el := range strings.Split(strings.Trim(p, "/"), "/") {
		if el == ".." {
			return "", errors.New("climbs out of the tree")
		}
	}
	if strings.ContainsAny(c, "*?[") {
		return "", errors.New("has wildcard characters")
	}
	return c, nil
}

func checkTraceLocation(s string) error {
	switch {
	case strings.HasPrefix(s, "rsync://"):
		u, err := ParseUpstream(s)
		if err != nil {
			return err
		}
		if u.Path == "" {
			return errors.New("the URL must name a file inside the module")
		}
		return nil
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil {
			return err
		}
		if u.Host == "" {
			return fmt.Errorf("%q has no host", s)
		}
		return nil
	case strings.Contains(s, "://"), strings.Contains(s, "::"):
		return fmt.Errorf("%q: want a path relative to the upstream or an rsync://, http:// or https:// URL", s)
	}
	_, err := cleanRel(s)
	return err
}

// readPasswordFile returns the first line of a private password file.
func readPasswordFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", name)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s is accessible by group or others (mode %04o): run chmod 600 %s", name, perm, name)
	}
	buf := make([]byte, 4096)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s: the first line (the password) is empty", name)
	}
	return line, nil
}

// settings is a Job with its defaults applied and its upstream parsed: what
// a run works from.
type settings struct {
	Job
	up           Upstream
	metadata     []string
	metadataLast []string
	subtrees     []string
	share        float64
	traceDir     string
	traceName    string
	attempts     int
	initial, max time.Duration
	stateDir     string // StateDir/Name
}

func (j Job) settings() (settings, error) {
	if err := j.Validate(); err != nil {
		return settings{}, err
	}
	s := settings{Job: j}
	s.up, _ = ParseUpstream(j.Upstream)
	s.metadata = j.Metadata
	if s.metadata == nil {
		s.metadata = DefaultMetadata()
	}
	s.metadataLast = j.MetadataLast
	if s.metadataLast == nil {
		s.metadataLast = DefaultMetadataLast()
	}
	for _, st := range j.Subtrees {
		c, _ := cleanRel(st)
		s.subtrees = append(s.subtrees, c)
	}
	s.share = j.MaxDeleteShare
	if s.share == 0 {
		s.share = DefaultMaxDeleteShare
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.ConnectTimeout == 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	s.traceDir = DefaultTraceDir
	if j.TraceDir != "" {
		s.traceDir, _ = cleanRel(j.TraceDir)
	}
	s.traceName = j.TraceName
	if s.traceName == "" {
		s.traceName = j.Name
	}
	// The upstream's traces say "this version is complete": a downstream
	// mirror reading ours must not see the new one before our metadata.
	// So they are copied last, with the top indexes.
	s.metadataLast = append(s.metadataLast[:len(s.metadataLast):len(s.metadataLast)], "/"+s.traceDir+"/")
	if rel, err := cleanRel(j.UpstreamTrace); err == nil && j.UpstreamTrace != "" && !strings.Contains(j.UpstreamTrace, "://") &&
		!strings.HasPrefix(rel, s.traceDir+"/") {
		s.metadataLast = append(s.metadataLast, "/"+rel)
	}
	if s.HookTimeout == 0 {
		s.HookTimeout = DefaultHookTimeout
	}
	s.attempts = j.Retry.Attempts
	if s.attempts == 0 {
		s.attempts = DefaultRetryAttempts
	}
	s.initial = j.Retry.Initial
	if s.initial == 0 {
		s.initial = DefaultRetryInitial
	}
	s.max = j.Retry.Max
	if s.max == 0 {
		s.max = max(DefaultRetryMax, s.initial)
	}
	s.Dest = filepath.Clean(j.Dest)
	s.stateDir = filepath.Join(j.StateDir, j.Name)
	return s, nil
}

// tracePath is the trace file's path relative to Dest.
func (s *settings) tracePath() string { return s.traceDir + "/" + s.traceName }

// hierarchyPath is the trace chain's path relative to Dest.
func (s *settings) hierarchyPath() string { return s.traceDir + "/_hierarchy" }
