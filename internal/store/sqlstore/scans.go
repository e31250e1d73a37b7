package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

const scanColumns = `s.id, s.mirror_id, m.name, s.started_at, s.finished_at, s.protocol, s.ok, s.entries,
	s.current, s.stale, s.previous, s.unverified, s.missing, s.extra, s.claimed, s.trace_time, s.error`

func scanRecord(r rowScanner) (store.ScanRecord, error) {
	var sr store.ScanRecord
	var trace any
	err := r.Scan(&sr.ID, &sr.MirrorID, &sr.Mirror, scanTime{&sr.StartedAt}, scanTime{&sr.FinishedAt}, &sr.Protocol,
		&sr.OK, &sr.Entries, &sr.Current, &sr.Stale, &sr.Previous, &sr.Unverified, &sr.Missing, &sr.Extra, &sr.Claimed, &trace, &sr.Error)
	if err != nil || trace == nil {
		return sr, err
	}
	var t time.Time
	if err := (scanTime{&t}).Scan(trace); err != nil {
		return sr, err
	}
	sr.TraceTime = &t
	return sr, nil
}

// RecordScan implements store.Scans.
func (s *DB) RecordScan(ctx context.Context, r store.ScanRecord, h *store.Holdings) (store.ScanRecord, error) {
	r.StartedAt, r.FinishedAt = registry.StoreTime(r.StartedAt), registry.StoreTime(r.FinishedAt)
	var trace any
	if r.TraceTime != nil {
		t := registry.StoreTime(*r.TraceTime)
		r.TraceTime, trace = &t, s.d.TimeArg(t)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.q(`SELECT name FROM mirrors WHERE id = ?`), r.MirrorID).Scan(&r.Mirror); err != nil {
			return s.wrap(fmt.Sprintf("mirror id %d", r.MirrorID), err)
		}
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO mirror_scans (mirror_id, started_at, finished_at, protocol, ok,
			entries, current, stale, previous, unverified, missing, extra, claimed, trace_time, error)
			VALUES (`+placeholders(15)+`) RETURNING id`),
			r.MirrorID, s.d.TimeArg(r.StartedAt), s.d.TimeArg(r.FinishedAt), r.Protocol, r.OK, r.Entries, r.Current,
			r.Stale, r.Previous, r.Unverified, r.Missing, r.Extra, r.Claimed, trace, r.Error).Scan(&r.ID)
		if err != nil {
			return s.wrap("record scan", err)
		}
		if h == nil {
			return nil
		}
		if !r.OK {
			return fmt.Errorf("%s: a failed scan cannot replace holdings", s.d.Name)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM mirror_holdings WHERE mirror_id = ?`), r.MirrorID); err != nil {
			return s.wrap("replace holdings", err)
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO mirror_holdings (mirror_id, scan_id, catalog_build, files, previous)
			VALUES (?, ?, ?, ?, ?)`), r.MirrorID, r.ID, h.CatalogBuild, h.Files, h.Previous)
		return s.wrap("replace holdings", err)
	})
	return r, err
}

// Scans implements store.Scans.
func (s *DB) Scans(ctx context.Context, mirror string, limit int) ([]store.ScanRecord, error) {
	var id int64
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT id FROM mirrors WHERE name = ?`), mirror).Scan(&id); err != nil {
		return nil, s.wrap(fmt.Sprintf("mirror %q", mirror), err)
	}
	return s.scans(ctx, s.q(`SELECT `+scanColumns+` FROM mirror_scans s JOIN mirrors m ON m.id = s.mirror_id
		WHERE s.mirror_id = ? ORDER BY s.id DESC LIMIT ?`), id, limit)
}

// LatestScans implements store.Scans.
func (s *DB) LatestScans(ctx context.Context) (map[int64]store.ScanRecord, error) {
	list, err := s.scans(ctx, `SELECT `+scanColumns+` FROM mirror_scans s JOIN mirrors m ON m.id = s.mirror_id
		WHERE s.id IN (SELECT MAX(id) FROM mirror_scans GROUP BY mirror_id)`)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]store.ScanRecord, len(list))
	for _, r := range list {
		out[r.MirrorID] = r
	}
	return out, nil
}

func (s *DB) scans(ctx context.Context, query string, args ...any) ([]store.ScanRecord, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.wrap("read scans", err)
	}
	defer rows.Close()
	out := []store.ScanRecord{}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, s.wrap("read scans", err)
		}
		out = append(out, r)
	}
	return out, s.wrap("read scans", rows.Err())
}

// Holdings implements store.Scans.
func (s *DB) Holdings(ctx context.Context) ([]store.Holdings, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT h.mirror_id, h.scan_id, h.catalog_build, h.files, h.previous, s.finished_at
		FROM mirror_holdings h JOIN mirror_scans s ON s.id = h.scan_id ORDER BY h.mirror_id`)
	if err != nil {
		return nil, s.wrap("read holdings", err)
	}
	defer rows.Close()
	out := []store.Holdings{}
	for rows.Next() {
		var h store.Holdings
		if err := rows.Scan(&h.MirrorID, &h.ScanID, &h.CatalogBuild, &h.Files, &h.Previous, scanTime{&h.ScannedAt}); err != nil {
			return nil, s.wrap("read holdings", err)
		}
		out = append(out, h)
	}
	return out, s.wrap("read holdings", rows.Err())
}

// LastGoodScans implements store.Scans.
func (s *DB) LastGoodScans(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT h.mirror_id, s.finished_at FROM mirror_holdings h JOIN mirror_scans s ON s.id = h.scan_id`)
	if err != nil {
		return nil, s.wrap("read last good scans", err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id int64
		var t time.Time
		if err := rows.Scan(&id, scanTime{&t}); err != nil {
			return nil, s.wrap("read last good scans", err)
		}
		out[id] = t
	}
	return out, s.wrap("read last good scans", rows.Err())
}
