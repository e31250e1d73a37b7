package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// Dialect is what differs between SQL backends.
type Dialect struct {
	// Name is the backend's name as Store.Backend reports it.
	Name string
	// Goose is the migration tool's dialect; Migrations holds NNNNN_name.sql files.
	Goose      goose.Dialect
	Migrations fs.FS
	// Locker serialises migrations across processes; nil when the database
	// serialises writers itself (SQLite).
	Locker lock.SessionLocker
	// Numbered placeholders ($1, $2) instead of "?".
	Numbered bool
	// TimeArg encodes a timestamp for a query argument.
	TimeArg func(time.Time) any
	// Constraint classifies a driver error: "unique", "foreign_key" or "".
	Constraint func(error) string
	// AfterImport runs in the import transaction after rows with explicit ids were
	// written (PostgreSQL moves its identity sequences past them).
	AfterImport func(ctx context.Context, tx *sql.Tx) error
}

// DB is a store.Store on a *sql.DB.
type DB struct {
	db       *sql.DB
	d        Dialect
	now      func() time.Time
	migrator *goose.Provider
}

var _ store.Store = (*DB)(nil)

// Open wraps db and, unless opts.NoMigrate, brings its schema up to date.
func Open(ctx context.Context, db *sql.DB, d Dialect, opts store.Options) (*DB, error) {
	popts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if d.Locker != nil {
		popts = append(popts, goose.WithSessionLocker(d.Locker))
	}
	p, err := goose.NewProvider(d.Goose, db, d.Migrations, popts...)
	if err != nil {
		return nil, fmt.Errorf("%s: migrations: %w", d.Name, err)
	}
	s := &DB{db: db, d: d, now: opts.Clock(), migrator: p}
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("%s: connect: %w", d.Name, err)
	}
	if !opts.NoMigrate {
		if _, err := s.Migrate(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Backend implements store.Store.
func (s *DB) Backend() string { return s.d.Name }

// Close implements store.Store.
func (s *DB) Close() error { return s.db.Close() }

// SQL exposes the pool to backend-specific code and tests.
func (s *DB) SQL() *sql.DB { return s.db }

// Migrate implements store.Store.
func (s *DB) Migrate(ctx context.Context) (int, error) {
	res, err := s.migrator.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("%s: migrate: %w", s.d.Name, err)
	}
	return len(res), nil
}

// SchemaVersion implements store.Store.
func (s *DB) SchemaVersion(ctx context.Context) (int64, int64, error) {
	cur, latest, err := s.migrator.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: schema version: %w", s.d.Name, err)
	}
	return cur, latest, nil
}

// q rewrites "?" placeholders for dialects that number them. Queries here never
// hold a literal "?".
func (s *DB) q(query string) string {
	if !s.d.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// inTx runs f in a transaction and commits only when f succeeds, so a rejected
// write leaves nothing behind.
func (s *DB) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", s.d.Name, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.wrap("commit", err)
	}
	return nil
}

// wrap turns constraint violations that slipped past the explicit checks (a
// concurrent writer won the race) into store.ErrConflict.
func (s *DB) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %s: %w", s.d.Name, op, store.ErrNotFound)
	}
	if k := s.d.Constraint(err); k != "" {
		return fmt.Errorf("%s: %s: %w (%s constraint: %v)", s.d.Name, op, store.ErrConflict, k, err)
	}
	return fmt.Errorf("%s: %s: %w", s.d.Name, op, err)
}

// stamp returns the current time at storage precision.
func (s *DB) stamp() time.Time { return registry.StoreTime(s.now()) }

// scanTime reads a timestamp whichever way the driver hands it over.
type scanTime struct{ t *time.Time }

func (st scanTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*st.t = registry.StoreTime(v)
	case string:
		return st.parse(v)
	case []byte:
		return st.parse(string(v))
	default:
		return fmt.Errorf("timestamp: unexpected %T", src)
	}
	return nil
}

func (st scanTime) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", v, err)
	}
	*st.t = registry.StoreTime(t)
	return nil
}

// TextTime is the TimeArg for databases without a timestamp type: fixed-width
// RFC 3339 text in UTC, which sorts in time order.
func TextTime(t time.Time) any {
	return registry.StoreTime(t).Format("2006-01-02T15:04:05.000000Z")
}
