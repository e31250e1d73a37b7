package store

import (
	"context"
	"errors"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// Errors every backend returns (wrapped), so callers can tell them apart without
// knowing the backend.
var (
	// ErrNotFound: no site or mirror has that name.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write raced with another writer, or would break a
	// reference (deleting a site that still has mirrors).
	ErrConflict = errors.New("conflict")
)

// Store is the persistence interface. Writes validate their input with the
// registry package before touching the database and are atomic: a rejected write
// changes nothing.
type Store interface {
	Registry
	Catalog
	Scans
	// Migrate applies pending schema migrations and returns how many ran.
	Migrate(ctx context.Context) (int, error)
	// SchemaVersion returns the applied and the latest known schema versions.
	SchemaVersion(ctx context.Context) (current, latest int64, err error)
	// Backend names the backend ("sqlite", "postgres").
	Backend() string
	Close() error
}

// Registry persists sites and mirrors. Lookups are by name, the identity users
// type; ids are stable and never reused, for packages that index mirrors by id.
type Registry interface {
	CreateSite(ctx context.Context, s registry.Site) (registry.Site, error)
	Site(ctx context.Context, name string) (registry.Site, error)
	Sites(ctx context.Context) ([]registry.Site, error)
	// UpdateSite writes s over the site with s.ID. It fails with ErrConflict when
	// the stored UpdatedAt differs from s.UpdatedAt: somebody else changed it since
	// it was read.
	UpdateSite(ctx context.Context, s registry.Site) (registry.Site, error)
	// DeleteSite fails with ErrConflict while the site still has mirrors.
	DeleteSite(ctx context.Context, name string) error

	CreateMirror(ctx context.Context, m registry.Mirror) (registry.Mirror, error)
	Mirror(ctx context.Context, name string) (registry.Mirror, error)
	Mirrors(ctx context.Context) ([]registry.Mirror, error)
	// UpdateMirror writes m over the mirror with m.ID, with the same optimistic
	// check as UpdateSite.
	UpdateMirror(ctx context.Context, m registry.Mirror) (registry.Mirror, error)
	// DeleteMirror fails with ErrConflict while another mirror names it upstream.
	DeleteMirror(ctx context.Context, name string) error

	// Export returns the whole registry in canonical order.
	Export(ctx context.Context) (registry.Snapshot, error)
	// Import writes a snapshot, ids and timestamps kept, in one transaction. It
	// refuses a non-empty registry unless replace is set, in which case the old
	// registry is dropped in the same transaction.
	Import(ctx context.Context, s registry.Snapshot, replace bool) error
}

// Catalog persists the origin's file list and its build history.
type Catalog interface {
	// CatalogEntries returns the stored catalog sorted by path, ids set.
	CatalogEntries(ctx context.Context) ([]catalog.Entry, error)
	// SaveCatalog makes entries (sorted by path) the stored catalog in one
	// transaction and records the build: a path that was there keeps its id,
	// a new path gets a new one (ids are never reused), a path no longer
	// there is removed. A changed file keeps its previous version
	// (Entry.Previous), and every added or changed one is dated with the
	// build's finish time (Entry.ChangedAt; a zero FinishedAt means now). It
	// returns the entries with ids set, and fills in the build record's ID,
	// times and Added/Changed/Removed counts.
	SaveCatalog(ctx context.Context, entries []catalog.Entry, b *CatalogBuild) ([]catalog.Entry, error)
	// CatalogBuilds returns the most recent builds, newest first.
	CatalogBuilds(ctx context.Context, limit int) ([]CatalogBuild, error)
}

// CatalogBuild records one catalog build.
type CatalogBuild struct {
	ID         int64     `json:"id"`
	Origin     string    `json:"origin"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Files      int       `json:"files"`
	Dirs       int       `json:"dirs"`
	Symlinks   int       `json:"symlinks"`
	Staged     int       `json:"staged"`
	Bytes      int64     `json:"bytes"`
	Hashed     int       `json:"hashed"`
	Cached     int       `json:"cached"`
	Added      int       `json:"added"`
	Changed    int       `json:"changed"`
	Removed    int       `json:"removed"`
}

// Scans persists scan history and each mirror's last good holdings.
type Scans interface {
	// RecordScan stores a scan's outcome. With h (a successful scan) it also
	// replaces the mirror's holdings, in the same transaction; a failed scan
	// passes nil and leaves the holdings as they were.
	RecordScan(ctx context.Context, r ScanRecord, h *Holdings) (ScanRecord, error)
	// Scans returns a mirror's most recent scans, newest first.
	Scans(ctx context.Context, mirror string, limit int) ([]ScanRecord, error)
	// LatestScans returns each mirror's most recent scan, by mirror id.
	LatestScans(ctx context.Context) (map[int64]ScanRecord, error)
	// Holdings returns every mirror's stored holdings.
	Holdings(ctx context.Context) ([]Holdings, error)
	// LastGoodScans returns when each mirror's last good scan finished (the
	// scan its holdings come from), by mirror id.
	LastGoodScans(ctx context.Context) (map[int64]time.Time, error)
}

// ScanRecord is one scan of one mirror.
type ScanRecord struct {
	ID         int64     `json:"id"`
	MirrorID   int64     `json:"mirror_id"`
	Mirror     string    `json:"mirror"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Protocol is the one whose listing was used; "" when every one failed.
	Protocol string `json:"protocol"`
	OK       bool   `json:"ok"`
	Entries  int    `json:"entries"`
	Current  int    `json:"current"`
	Stale    int    `json:"stale"`
	// Previous counts the stale files that are the catalog's previous version.
	Previous   int        `json:"previous"`
	Unverified int        `json:"unverified"`
	Missing    int        `json:"missing"`
	Extra      int        `json:"extra"`
	Claimed    int        `json:"claimed"`
	TraceTime  *time.Time `json:"trace_time"`
	Error      string     `json:"error"`
}

// Holdings are the catalog entries a mirror held, as of a catalog build: a
// serialized roaring bitmap of entry ids.
type Holdings struct {
	MirrorID     int64  `json:"mirror_id"`
	ScanID       int64  `json:"scan_id"`
	CatalogBuild int64  `json:"catalog_build"`
	Files        []byte `json:"-"`
	// Previous is the same for the files whose previous version it held;
	// nil when unknown (holdings stored before mirrorkit tracked it).
	Previous []byte `json:"-"`
	// ScannedAt is when the scan that made them finished (read only).
	ScannedAt time.Time `json:"scanned_at"`
}

// Options tune a backend. The zero value is the production default.
type Options struct {
	// Now is the clock for created/updated timestamps (tests pin it).
	Now func() time.Time
	// NoMigrate opens without applying migrations (for `db status`).
	NoMigrate bool
	// MaxOpenConns bounds the connection pool; 0 picks the backend's default.
	MaxOpenConns int
	// BusyTimeout is how long SQLite waits for a lock before failing.
	BusyTimeout time.Duration
}

// Clock returns the configured clock or time.Now.
func (o Options) Clock() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}
