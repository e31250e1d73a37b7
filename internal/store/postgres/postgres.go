package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/mirrorkit/mirrorkit/internal/store"
	"github.com/mirrorkit/mirrorkit/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded migration files.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Open connects to the database at dsn (postgres://… or key=value form).
func Open(ctx context.Context, dsn string, opts store.Options) (*sqlstore.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad DSN: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	db := sql.OpenDB(stdlib.GetConnector(*cfg))
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 16
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	d, err := Dialect()
	if err != nil {
		db.Close()
		return nil, err
	}
	s, err := sqlstore.Open(ctx, db, d, opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", cfg.Host, err)
	}
	return s, nil
}

// Dialect describes PostgreSQL to sqlstore.
func Dialect() (sqlstore.Dialect, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return sqlstore.Dialect{}, fmt.Errorf("postgres: migration lock: %w", err)
	}
	return sqlstore.Dialect{
		Name:        "postgres",
		Goose:       goose.DialectPostgres,
		Migrations:  Migrations(),
		Locker:      locker,
		Numbered:    true,
		TimeArg:     func(t time.Time) any { return t.UTC() },
		Constraint:  constraint,
		AfterImport: afterImport,
	}, nil
}

func constraint(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return ""
	}
	switch pe.Code {
	case "23505":
		return "unique"
	case "23503":
		return "foreign_key"
	}
	return ""
}

// afterImport moves each identity sequence past the ids an import wrote, and
// never backwards, so no id is handed out twice.
func afterImport(ctx context.Context, tx *sql.Tx) error {
	for _, table := range []string{"sites", "mirrors"} {
		_, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+table+`', 'id'),
			GREATEST((SELECT COALESCE(MAX(id), 0) FROM `+table+`) + 1, nextval(pg_get_serial_sequence('`+table+`', 'id'))), false)`)
		if err != nil {
			return fmt.Errorf("postgres: reset %s id sequence: %w", table, err)
		}
	}
	return nil
}
