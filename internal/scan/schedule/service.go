package schedule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// Service scans mirrors and keeps the inventory and the store in step.
type Service struct {
	Store     store.Store
	Inventory *inventory.Inventory
	// Scanners by protocol; a mirror's protocols without a scanner are skipped.
	Scanners map[registry.Protocol]scan.Scanner
	// Timeout bounds one mirror's whole scan; IOTimeout goes to the scanners.
	Timeout, IOTimeout time.Duration
	// TraceFiles are tried in order after a good listing.
	TraceFiles []string
	// Passwords for rsync and FTP logins, by mirror name.
	Passwords map[string]string
	// MaxAge: a mirror whose last good scan is older is stale.
	MaxAge time.Duration
	Log    *slog.Logger
	Now    func() time.Time

	mu sync.Mutex
	// build is the catalog build the inventory's catalog came from; stored
	// holdings are tagged with it.
	build int64
	// changed maps a catalog entry id to the build that last changed it.
	changed map[inventory.FileID]int64
	// lastGood is each mirror's last good scan.
	lastGood map[int64]time.Time
}

// LastGood returns when a mirror's last good scan finished and whether that
// is recent enough (within MaxAge) for the mirror to count as fresh. A mirror
// never scanned is not fresh.
func (s *Service) LastGood(mirrorID int64) (time.Time, bool) {
	s.mu.Lock()
	t, ok := s.lastGood[mirrorID]
	s.mu.Unlock()
	return t, ok && (s.MaxAge <= 0 || s.now().Sub(t) <= s.MaxAge)
}

// Load fills the inventory from the store: the catalog, then every mirror's
// stored holdings, minus files the catalog changed since those were made.
func (s *Service) Load(ctx context.Context) error {
	entries, err := s.Store.CatalogEntries(ctx)
	if err != nil {
		return fmt.Errorf("load catalog: %w", err)
	}
	builds, err := s.Store.CatalogBuilds(ctx, 1)
	if err != nil {
		return fmt.Errorf("load catalog: %w", err)
	}
	if err := s.SetCatalog(entries, latestBuild(builds)); err != nil {
		return err
	}
	holdings, err := s.Store.Holdings(ctx)
	if err != nil {
		return fmt.Errorf("load holdings: %w", err)
	}
	var cols []*inventory.Column
	lastGood := make(map[int64]time.Time, len(holdings))
	for _, h := range holdings {
		lastGood[h.MirrorID] = h.ScannedAt
		col := s.Inventory.NewColumn(h.MirrorID)
		// Both versions count only where the catalog has not changed the
		// file since: then they are the versions the scan checked.
		err := s.credit(h.Files, h.CatalogBuild, col.Credit)
		if err == nil && h.Previous != nil {
			err = s.credit(h.Previous, h.CatalogBuild, col.CreditPrevious)
		}
		if err != nil {
			s.log().Warn("stored holdings unreadable; the mirror waits for its next scan", "mirror_id", h.MirrorID, "err", err)
			continue
		}
		col.Finish(nil)
		cols = append(cols, col)
	}
	if len(cols) > 0 {
		if _, err := s.Inventory.Commit(cols...); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.lastGood = lastGood
	s.mu.Unlock()
	return nil
}

// credit reads a stored bitmap and credits each file the catalog has not
// changed since build.
func (s *Service) credit(bitmap []byte, build int64, credit func(inventory.FileID)) error {
	rb := roaring.New()
	if _, err := rb.ReadFrom(bytes.NewReader(bitmap)); err != nil {
		return err
	}
	it := rb.Iterator()
	for it.HasNext() {
		if id := inventory.FileID(it.Next()); s.changed[id] <= build {
			credit(id)
		}
	}
	return nil
}

// ReloadIfNewCatalog loads again when the store has a newer catalog build
// than the inventory holds, and says whether it did.
func (s *Service) ReloadIfNewCatalog(ctx context.Context) (bool, error) {
	builds, err := s.Store.CatalogBuilds(ctx, 1)
	if err != nil {
		return false, fmt.Errorf("read catalog builds: %w", err)
	}
	s.mu.Lock()
	current := s.build
	s.mu.Unlock()
	if latestBuild(builds) == current {
		return false, nil
	}
	return true, s.Load(ctx)
}

func latestBuild(bs []store.CatalogBuild) int64 {
	if len(bs) == 0 {
		return 0
	}
	return bs[0].ID
}

// SetCatalog gives the inventory a new catalog (files only: directories and
// symlinks are not redirect targets).
func (s *Service) SetCatalog(entries []catalog.Entry, build int64) error {
	files := make([]inventory.File, 0, len(entries))
	changed := make(map[inventory.FileID]int64, len(entries))
	for _, e := range entries {
		if e.Type != scan.File || e.ID == 0 {
			continue
		}
		id := inventory.FileID(e.ID)
		f := inventory.File{ID: id, Path: e.Path, Size: e.Size, ModTime: e.ModTime, Staged: e.Staged, ChangedAt: e.ChangedAt}
		if e.Previous != nil {
			f.Previous, f.HasPrevious = inventory.Version{Size: e.Previous.Size, ModTime: e.Previous.ModTime}, true
		}
		files = append(files, f)
		changed[id] = e.ChangedBuild
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Inventory.SetCatalog(files); err != nil {
		return err
	}
	s.build, s.changed = build, changed
	return nil
}

// Result is one mirror's scan.
type Result struct {
	store.ScanRecord
	// Attempts says why each protocol before the one used was given up.
	Attempts []Attempt `json:"attempts"`
	// Completion is the share of claimed files the mirror holds, 0..100.
	Completion float64 `json:"completion"`
}

// Attempt is one protocol tried.
type Attempt struct {
	Protocol string `json:"protocol"`
	Error    string `json:"error"`
}

// ScanMirror lists a mirror over the first of its protocols that works
// (rsync > FTP > HTTPS > HTTP), folds the listing into the inventory, reads
// its trace file and records everything. A scan that fails on every protocol
// is recorded and changes nothing else.
func (s *Service) ScanMirror(ctx context.Context, m registry.Mirror) (Result, error) {
	start := s.now()
	parent := ctx
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	res := Result{ScanRecord: store.ScanRecord{MirrorID: m.ID, Mirror: m.Name, StartedAt: start}}
	var col *column
	var used scan.Scanner
	var target scan.Target
	for _, p := range registry.Protocols() {
		sc := s.Scanners[p]
		base := m.URLs.Get(p)
		if sc == nil || base == "" {
			continue
		}
		target = scan.Target{URL: base, Prefixes: m.Content, Timeout: s.IOTimeout, Password: s.Passwords[m.Name]}
		c, n, err := s.list(ctx, m.ID, sc, target)
		if v, ok := sc.(scan.Verifier); ok && (errors.Is(err, scan.ErrAuth) || errors.Is(err, scan.ErrBadListing)) {
			// No index pages (autoindex off, or a custom page): check the
			// catalog's files one by one instead, rate-limited by the scanner.
			res.Attempts = append(res.Attempts, Attempt{Protocol: string(p), Error: err.Error() + "; checking catalog files with HEAD"})
			c, n, err = s.verify(ctx, m, v, target)
		}
		if err == nil {
			col, used, res.Protocol, res.Entries = c, sc, string(p), n
			break
		}
		res.Attempts = append(res.Attempts, Attempt{Protocol: string(p), Error: err.Error()})
		if ctx.Err() != nil {
			break // the whole scan timed out or was cancelled: no point trying the next protocol
		}
	}
	res.FinishedAt = s.now()
	if col == nil && parent.Err() != nil {
		// Shutdown, not the mirror's fault: leave no failure in its history.
		return res, parent.Err()
	}
	if col == nil {
		res.Error = "the mirror offers no protocol this scanner speaks"
		if len(res.Attempts) > 0 {
			var parts []string
			for _, a := range res.Attempts {
				parts = append(parts, a.Protocol+": "+a.Error)
			}
			res.Error = strings.Join(parts, "; ")
		}
		rec, err := s.Store.RecordScan(context.WithoutCancel(ctx), res.ScanRecord, nil)
		res.ScanRecord = rec
		return res, errors.Join(errors.New(res.Error), err)
	}
	st := col.Finish(m.Content)
	res.OK = true
	res.Current, res.Stale, res.Previous, res.Unverified, res.Missing, res.Extra, res.Claimed =
		st.Current, st.Stale, st.Previous, st.Unverified, st.Missing, st.Extra, st.Claimed
	res.Completion = st.Completion()
	res.TraceTime = s.trace(ctx, used, target)
	res.FinishedAt = s.now()

	files, err := bitmap(col.Held)
	if err != nil {
		return res, err
	}
	previous, err := bitmap(col.HeldPrevious)
	if err != nil {
		return res, err
	}
	// The store first: if it refuses, memory keeps the old column too, and
	// the two never disagree after a restart.
	rec, err := s.Store.RecordScan(context.WithoutCancel(ctx), res.ScanRecord,
		&store.Holdings{CatalogBuild: col.build, Files: files, Previous: previous})
	if err != nil {
		return res, fmt.Errorf("record scan of %s: %w", m.Name, err)
	}
	res.ScanRecord = rec
	if _, err := s.Inventory.Commit(col.Column); err != nil {
		return res, err
	}
	s.mu.Lock()
	if s.lastGood == nil {
		s.lastGood = map[int64]time.Time{}
	}
	s.lastGood[m.ID] = res.FinishedAt
	s.mu.Unlock()
	s.log().Info("mirror scanned", "mirror", m.Name, "protocol", res.Protocol, "entries", res.Entries,
		"current", res.Current, "stale", res.Stale, "missing", res.Missing, "extra", res.Extra,
		"completion", fmt.Sprintf("%.1f%%", res.Completion), "duration", res.FinishedAt.Sub(res.StartedAt))
	return res, nil
}

// column is a listing's inventory column and the catalog build it was
// checked against.
type column struct {
	*inventory.Column
	build int64
}

// list runs one scanner into a fresh column. Any error discards the column.
func (s *Service) list(ctx context.Context, mirrorID int64, sc scan.Scanner, t scan.Target) (*column, int, error) {
	return s.collect(mirrorID, func(emit func(scan.Entry) error) error { return sc.Scan(ctx, t, emit) })
}

// collect folds the entries a listing or a verification emits into a fresh
// column; it returns the column only when the run completed.
func (s *Service) collect(mirrorID int64, run func(emit func(scan.Entry) error) error) (*column, int, error) {
	// The column and the build it is checked against are taken together, so
	// stored holdings never claim a build newer than their listing saw.
	s.mu.Lock()
	col := &column{Column: s.Inventory.NewColumn(mirrorID), build: s.build}
	s.mu.Unlock()
	n := 0
	err := run(func(e scan.Entry) error {
		n++
		if e.Type == scan.File {
			col.Add(e.Path, e.Size, e.ModTime, e.Precision)
		}
		return nil
	})
	if err != nil {
		return nil, n, err
	}
	return col, n, nil
}

// verify checks the catalog's public files under the mirror's content one
// by one. Like a listing, it credits nothing unless it completes.
func (s *Service) verify(ctx context.Context, m registry.Mirror, v scan.Verifier, t scan.Target) (*column, int, error) {
	snap := s.Inventory.Snapshot()
	var paths []string
	for id := range snap.FileIDs() {
		if f, ok := snap.File(id); ok && !f.Staged && m.Carries(f.Path) {
			paths = append(paths, f.Path)
		}
	}
	return s.collect(m.ID, func(emit func(scan.Entry) error) error { return v.Verify(ctx, t, paths, emit) })
}

// maxTrace bounds a trace file read; real ones are a few hundred bytes.
const maxTrace = 64 << 10

// trace reads the first trace file the mirror has and parses its time.
// Mirrors without one are common; that is not an error.
func (s *Service) trace(ctx context.Context, sc scan.Scanner, t scan.Target) *time.Time {
	for _, p := range s.TraceFiles {
		data, err := sc.ReadFile(ctx, t, p, maxTrace)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			s.log().Debug("trace file unreadable", "url", t.URL, "path", p, "err", err)
			continue
		}
		if tm, ok := ParseTrace(data); ok {
			return &tm
		}
	}
	return nil
}

// ParseTrace reads the sync time from a trace file in the forms mirrors use:
// a Unix timestamp (Arch/Parabola lastupdate, Fedora's TIME), RFC 3339, or
// the output of `date -u` as ftpsync's trace files start with.
func ParseTrace(data []byte) (time.Time, bool) {
	line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	line = strings.TrimSpace(line)
	if n, err := strconv.ParseInt(line, 10, 64); err == nil && n > 0 && n < 1<<40 {
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, time.UnixDate, time.RFC1123, time.RFC1123Z, "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, line); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// bitmap serializes the files a column credits as a roaring bitmap.
func bitmap(each func(func(inventory.FileID))) ([]byte, error) {
	rb := roaring.New()
	each(func(id inventory.FileID) { rb.Add(uint32(id)) })
	rb.RunOptimize()
	var buf bytes.Buffer
	if _, err := rb.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("serialize holdings: %w", err)
	}
	return buf.Bytes(), nil
}
