package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

const siteColumns = `id, name, sponsor, sponsor_url, contacts, private_notes, created_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanSite(r rowScanner) (registry.Site, error) {
	var s registry.Site
	var contacts string
	err := r.Scan(&s.ID, &s.Name, &s.Sponsor, &s.SponsorURL, &contacts, &s.PrivateNotes,
		scanTime{&s.CreatedAt}, scanTime{&s.UpdatedAt})
	if err != nil {
		return s, err
	}
	return s, decodeJSON("contacts", contacts, &s.Contacts)
}

// Site implements store.Registry.
func (s *DB) Site(ctx context.Context, name string) (registry.Site, error) {
	st, err := scanSite(s.db.QueryRowContext(ctx, s.q(`SELECT `+siteColumns+` FROM sites WHERE name = ?`), name))
	if err != nil {
		return st, s.wrap(fmt.Sprintf("site %q", name), err)
	}
	return st, nil
}

// Sites implements store.Registry.
func (s *DB) Sites(ctx context.Context) ([]registry.Site, error) {
	return s.sites(ctx, s.db)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *DB) sites(ctx context.Context, qr querier) ([]registry.Site, error) {
	rows, err := qr.QueryContext(ctx, `SELECT `+siteColumns+` FROM sites ORDER BY name`)
	if err != nil {
		return nil, s.wrap("list sites", err)
	}
	defer rows.Close()
	out := []registry.Site{}
	for rows.Next() {
		st, err := scanSite(rows)
		if err != nil {
			return nil, s.wrap("list sites", err)
		}
		out = append(out, st)
	}
	return out, s.wrap("list sites", rows.Err())
}

// CreateSite implements store.Registry.
func (s *DB) CreateSite(ctx context.Context, st registry.Site) (registry.Site, error) {
	st.Normalize()
	if err := st.Validate(); err != nil {
		return st, err
	}
	st.CreatedAt = s.stamp()
	st.UpdatedAt = st.CreatedAt
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.checkSiteName(ctx, tx, st.Name, 0); err != nil {
			return err
		}
		return s.insertSite(ctx, tx, &st, false)
	})
	return st, err
}

func (s *DB) checkSiteName(ctx context.Context, tx *sql.Tx, name string, self int64) error {
	var id int64
	err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM sites WHERE name = ?`), name).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && id == self:
		return nil
	case err != nil:
		return s.wrap("check site name", err)
	}
	return registry.Invalid("name", fmt.Sprintf("a site named %q already exists", name))
}

// insertSite writes st; withID keeps st.ID (imports) instead of taking a new one.
func (s *DB) insertSite(ctx context.Context, tx *sql.Tx, st *registry.Site, withID bool) error {
	cols, vals := `name, sponsor, sponsor_url, contacts, private_notes, created_at, updated_at`, `?, ?, ?, ?, ?, ?, ?`
	args := []any{st.Name, st.Sponsor, st.SponsorURL, encodeJSON(st.Contacts), st.PrivateNotes,
		s.d.TimeArg(st.CreatedAt), s.d.TimeArg(st.UpdatedAt)}
	if withID {
		cols, vals, args = "id, "+cols, "?, "+vals, append([]any{st.ID}, args...)
	}
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO sites (`+cols+`) VALUES (`+vals+`) RETURNING id`), args...).Scan(&st.ID)
	return s.wrap(fmt.Sprintf("insert site %q", st.Name), err)
}

// UpdateSite implements store.Registry.
func (s *DB) UpdateSite(ctx context.Context, st registry.Site) (registry.Site, error) {
	st.Normalize()
	if err := st.Validate(); err != nil {
		return st, err
	}
	read := st.UpdatedAt
	st.UpdatedAt = s.stamp()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.checkFresh(ctx, tx, "sites", st.ID, read); err != nil {
			return err
		}
		if err := s.checkSiteName(ctx, tx, st.Name, st.ID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE sites SET name = ?, sponsor = ?, sponsor_url = ?, contacts = ?,
			private_notes = ?, updated_at = ? WHERE id = ? AND updated_at = ?`),
			st.Name, st.Sponsor, st.SponsorURL, encodeJSON(st.Contacts), st.PrivateNotes,
			s.d.TimeArg(st.UpdatedAt), st.ID, s.d.TimeArg(read))
		if err != nil {
			return s.wrap(fmt.Sprintf("update site %q", st.Name), err)
		}
		return s.checkUpdated(res, "sites", st.ID)
	})
	return st, err
}

// checkFresh fails with ErrNotFound when the row is gone and with ErrConflict
// when its updated_at is no longer the one the caller read: a stale writer must
// read again before its other checks mean anything. It returns created_at.
func (s *DB) checkFresh(ctx context.Context, tx *sql.Tx, table string, id int64, read time.Time) (time.Time, error) {
	var created, updated time.Time
	err := tx.QueryRowContext(ctx, s.q(`SELECT created_at, updated_at FROM `+table+` WHERE id = ?`), id).
		Scan(scanTime{&created}, scanTime{&updated})
	if err != nil {
		return created, s.wrap(fmt.Sprintf("%s id %d", table, id), err)
	}
	if !updated.Equal(registry.StoreTime(read)) {
		return created, staleError(s.d.Name, table, id)
	}
	return created, nil
}

func staleError(backend, table string, id int64) error {
	return fmt.Errorf("%s: update %s id %d: %w: changed by someone else since it was read; read it again",
		backend, table, id, store.ErrConflict)
}

// checkUpdated is the last guard against a writer that slipped in between
// checkFresh and the UPDATE (PostgreSQL's read committed allows it).
func (s *DB) checkUpdated(res sql.Result, table string, id int64) error {
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap("update "+table, err)
	}
	if n != 1 {
		return staleError(s.d.Name, table, id)
	}
	return nil
}

// DeleteSite implements store.Registry.
func (s *DB) DeleteSite(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM sites WHERE name = ?`), name).Scan(&id); err != nil {
			return s.wrap(fmt.Sprintf("site %q", name), err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM mirrors WHERE site_id = ?`), id).Scan(&n); err != nil {
			return s.wrap("count mirrors", err)
		}
		if n > 0 {
			return fmt.Errorf("site %q still has %d mirror(s); remove or move them first: %w", name, n, store.ErrConflict)
		}
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM sites WHERE id = ?`), id)
		return s.wrap(fmt.Sprintf("delete site %q", name), err)
	})
}

// encodeJSON stores a list as a JSON array; lists are small and always read
// whole, so a column beats a child table.
func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only lists of strings and integers reach here.
		panic(fmt.Sprintf("sqlstore: encode %T: %v", v, err))
	}
	return string(b)
}

func decodeJSON(field, src string, dst any) error {
	if err := json.Unmarshal([]byte(src), dst); err != nil {
		return fmt.Errorf("column %s holds bad JSON %q: %w", field, src, err)
	}
	return nil
}
