package backend

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/mirrorkit/mirrorkit/internal/store"
	"github.com/mirrorkit/mirrorkit/internal/store/postgres"
	"github.com/mirrorkit/mirrorkit/internal/store/sqlite"
)

// Kind is a backend's name.
type Kind string

// The backends.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
)

// Parse says which backend a DSN is for and what to hand that backend.
func Parse(dsn string) (Kind, string, error) {
	d := strings.TrimSpace(dsn)
	switch {
	case d == "":
		return "", "", fmt.Errorf("empty store DSN; use sqlite:PATH or postgres://USER@HOST/DB")
	case strings.HasPrefix(d, "postgres://"), strings.HasPrefix(d, "postgresql://"):
		return Postgres, d, nil
	case strings.HasPrefix(d, "sqlite://"):
		return sqlitePath(strings.TrimPrefix(d, "sqlite://"))
	case strings.HasPrefix(d, "sqlite:"):
		return sqlitePath(strings.TrimPrefix(d, "sqlite:"))
	case isKeyValue(d):
		return Postgres, d, nil
	case strings.Contains(d, "://"):
		scheme, _, _ := strings.Cut(d, "://")
		return "", "", fmt.Errorf("store DSN scheme %q is not supported; use sqlite:PATH or postgres://USER@HOST/DB", scheme)
	}
	return sqlitePath(d)
}

func sqlitePath(p string) (Kind, string, error) {
	if p == "" {
		return "", "", fmt.Errorf("sqlite DSN without a path; use sqlite:PATH")
	}
	return SQLite, p, nil
}

// isKeyValue recognises libpq's "host=db dbname=mirrorkit" form.
func isKeyValue(d string) bool {
	for _, k := range []string{"host=", "dbname=", "user=", "port="} {
		if strings.HasPrefix(d, k) || strings.Contains(d, " "+k) {
			return true
		}
	}
	return false
}

// Open opens the store a DSN names.
func Open(ctx context.Context, dsn string, opts store.Options) (store.Store, error) {
	kind, target, err := Parse(dsn)
	if err != nil {
		return nil, err
	}
	switch kind {
	case Postgres:
		return postgres.Open(ctx, target, opts)
	default:
		return sqlite.Open(ctx, target, opts)
	}
}

// Redact hides a password in a DSN, for logs and messages.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
		return dsn
	}
	if isKeyValue(dsn) {
		fields := strings.Fields(dsn)
		for i, f := range fields {
			if strings.HasPrefix(f, "password=") {
				fields[i] = "password=xxxxx"
			}
		}
		return strings.Join(fields, " ")
	}
	return dsn
}
