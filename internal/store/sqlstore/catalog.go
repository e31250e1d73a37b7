package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"math"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// catalogColumns are written in this order by catalogArgs.
const catalogColumns = `path, type, size, mtime_ns, mode, target, link_group, staged, dev, inode,
	sha256, sha1, md5, sha512, piece_size, pieces, changed_build, changed_at_ns, prev_size, prev_mtime_ns`

const catalogColumnCount = 20

// catalogBatch rows go into one INSERT: far below both databases' limits on
// parameters, large enough that 100,000 new files take 200 statements.
const catalogBatch = 500

func catalogArgs(e *catalog.Entry) []any {
	var pieces []byte
	if len(e.Pieces) > 0 {
		pieces = e.Pieces
	}
	changedAt, prevSize, prevMtime := int64(0), int64(-1), int64(0)
	if !e.ChangedAt.IsZero() {
		changedAt = e.ChangedAt.UnixNano()
	}
	if e.Previous != nil {
		prevSize, prevMtime = e.Previous.Size, e.Previous.ModTime.UnixNano()
	}
	return []any{[]byte(e.Path), int64(e.Type), e.Size, e.ModTime.UnixNano(), int64(e.Mode), []byte(e.Target),
		[]byte(e.LinkGroup), e.Staged, int64(e.Dev), int64(e.Inode),
		e.SHA256, e.SHA1, e.MD5, e.SHA512, e.PieceSize, pieces, e.ChangedBuild, changedAt, prevSize, prevMtime}
}

// CatalogEntries implements store.Catalog.
func (s *DB) CatalogEntries(ctx context.Context) ([]catalog.Entry, error) {
	return s.catalogEntries(ctx, s.db)
}

func (s *DB) catalogEntries(ctx context.Context, qr querier) ([]catalog.Entry, error) {
	rows, err := qr.QueryContext(ctx, `SELECT id, `+catalogColumns+` FROM catalog_entries ORDER BY path`)
	if err != nil {
		return nil, s.wrap("read catalog", err)
	}
	defer rows.Close()
	var out []catalog.Entry
	for rows.Next() {
		var e catalog.Entry
		var id, typ, mtime, mode, dev, inode, changedAt, prevSize, prevMtime int64
		var path, target, group, pieces []byte
		if err := rows.Scan(&id, &path, &typ, &e.Size, &mtime, &mode, &target, &group, &e.Staged, &dev, &inode,
			&e.SHA256, &e.SHA1, &e.MD5, &e.SHA512, &e.PieceSize, &pieces, &e.ChangedBuild,
			&changedAt, &prevSize, &prevMtime); err != nil {
			return nil, s.wrap("read catalog", err)
		}
		if changedAt != 0 {
			e.ChangedAt = time.Unix(0, changedAt).UTC()
		}
		if prevSize >= 0 {
			e.Previous = &catalog.Version{Size: prevSize, ModTime: time.Unix(0, prevMtime).UTC()}
		}
		e.ID, e.Path, e.Type = uint32(id), string(path), scan.Type(typ)
		e.ModTime, e.Mode = time.Unix(0, mtime).UTC(), fs.FileMode(mode)
		e.Target, e.LinkGroup, e.Dev, e.Inode = string(target), string(group), uint64(dev), uint64(inode)
		if len(pieces) > 0 {
			e.Pieces = pieces
		}
		out = append(out, e)
	}
	return out, s.wrap("read catalog", rows.Err())
}

// SaveCatalog implements store.Catalog: it writes only the difference from the
// stored catalog, so an unchanged rebuild of 100,000 files writes one row.
func (s *DB) SaveCatalog(ctx context.Context, entries []catalog.Entry, build *store.CatalogBuild) ([]catalog.Entry, error) {
	for i := 1; i < len(entries); i++ {
		if entries[i-1].Path >= entries[i].Path {
			return nil, fmt.Errorf("%s: save catalog: entries not sorted by path or repeated at %q", s.d.Name, entries[i].Path)
		}
	}
	out := make([]catalog.Entry, len(entries))
	copy(out, entries)
	// Work on a copy: a rolled-back save must not leave a half-filled record.
	b := *build
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := s.catalogEntries(ctx, tx)
		if err != nil {
			return err
		}
		// The build's id marks the entries it adds or changes, so it is
		// written first and its counts filled in at the end.
		if err := s.insertBuild(ctx, tx, &b); err != nil {
			return err
		}
		var added []*catalog.Entry
		var removed []int64
		i, j := 0, 0
		for i < len(old) || j < len(out) {
			switch {
			case j == len(out) || i < len(old) && old[i].Path < out[j].Path:
				removed = append(removed, int64(old[i].ID))
				i++
			case i == len(old) || out[j].Path < old[i].Path:
				out[j].ChangedBuild, out[j].ChangedAt, out[j].Previous = b.ID, b.FinishedAt, nil
				added = append(added, &out[j])
				j++
			default:
				o, e := &old[i], &out[j]
				e.ID, e.ChangedBuild, e.ChangedAt, e.Previous = o.ID, o.ChangedBuild, o.ChangedAt, o.Previous
				if !sameRow(o, e) {
					b.Changed++
					if catalog.VersionChanged(o, e) {
						e.ChangedBuild, e.ChangedAt, e.Previous = b.ID, b.FinishedAt, nil
						if o.Type == scan.File && e.Type == scan.File {
							e.Previous = &catalog.Version{Size: o.Size, ModTime: o.ModTime}
						}
					}
					args := append(catalogArgs(e)[1:], int64(e.ID))
					if _, err := tx.ExecContext(ctx, s.q(`UPDATE catalog_entries SET (type, size, mtime_ns, mode, target,
						link_group, staged, dev, inode, sha256, sha1, md5, sha512, piece_size, pieces, changed_build,
						changed_at_ns, prev_size, prev_mtime_ns) =
						(`+placeholders(catalogColumnCount-1)+`) WHERE id = ?`), args...); err != nil {
						return s.wrap(fmt.Sprintf("update catalog entry %q", out[j].Path), err)
					}
				}
				i++
				j++
			}
		}
		for start := 0; start < len(removed); start += catalogBatch {
			batch := removed[start:min(len(removed), start+catalogBatch)]
			args := make([]any, len(batch))
			for k, id := range batch {
				args[k] = id
			}
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM catalog_entries WHERE id IN (`+placeholders(len(batch))+`)`), args...); err != nil {
				return s.wrap("remove catalog entries", err)
			}
		}
		if err := s.insertCatalog(ctx, tx, added); err != nil {
			return err
		}
		b.Added, b.Removed = len(added), len(removed)
		_, err = tx.ExecContext(ctx, s.q(`UPDATE catalog_builds SET added = ?, changed = ?, removed = ? WHERE id = ?`),
			b.Added, b.Changed, b.Removed, b.ID)
		return s.wrap("record catalog build", err)
	})
	if err != nil {
		return nil, err
	}
	*build = b
	return out, nil
}

// insertCatalog writes new entries in batches and sets their ids from what the
// database assigned, matched by path (multi-row RETURNING promises no order).
func (s *DB) insertCatalog(ctx context.Context, tx *sql.Tx, added []*catalog.Entry) error {
	for start := 0; start < len(added); start += catalogBatch {
		batch := added[start:min(len(added), start+catalogBatch)]
		args := make([]any, 0, len(batch)*catalogColumnCount)
		values := make([]byte, 0, len(batch)*(catalogColumnCount*3+4))
		byPath := make(map[string]*catalog.Entry, len(batch))
		for k, e := range batch {
			if k > 0 {
				values = append(values, ", "...)
			}
			values = append(values, '(')
			values = append(values, placeholders(catalogColumnCount)...)
			values = append(values, ')')
			args = append(args, catalogArgs(e)...)
			byPath[e.Path] = e
		}
		rows, err := tx.QueryContext(ctx, s.q(`INSERT INTO catalog_entries (`+catalogColumns+`) VALUES `+string(values)+` RETURNING id, path`), args...)
		if err != nil {
			return s.wrap("insert catalog entries", err)
		}
		for rows.Next() {
			var id int64
			var path []byte
			if err := rows.Scan(&id, &path); err != nil {
				rows.Close()
				return s.wrap("insert catalog entries", err)
			}
			if id > math.MaxUint32 {
				rows.Close()
				return fmt.Errorf("%s: catalog ids are exhausted (id %d)", s.d.Name, id)
			}
			if e := byPath[string(path)]; e != nil {
				e.ID = uint32(id)
			}
		}
		if err := rows.Close(); err != nil {
			return s.wrap("insert catalog entries", err)
		}
		for _, e := range batch {
			if e.ID == 0 {
				return fmt.Errorf("%s: insert catalog entries: no id returned for %q", s.d.Name, e.Path)
			}
		}
	}
	return nil
}

func (s *DB) insertBuild(ctx context.Context, tx *sql.Tx, b *store.CatalogBuild) error {
	// The finish time dates every change the build makes; it is never left
	// unknown.
	if b.FinishedAt.IsZero() {
		b.FinishedAt = s.now()
	}
	if b.StartedAt.IsZero() {
		b.StartedAt = b.FinishedAt
	}
	b.StartedAt, b.FinishedAt = registry.StoreTime(b.StartedAt), registry.StoreTime(b.FinishedAt)
	err := tx.QueryRowContext(ctx, s.q(`INSERT INTO catalog_builds (origin, started_at, finished_at, files, dirs,
		symlinks, staged, bytes, hashed, cached, added, changed, removed) VALUES (`+placeholders(13)+`) RETURNING id`),
		b.Origin, s.d.TimeArg(b.StartedAt), s.d.TimeArg(b.FinishedAt), b.Files, b.Dirs, b.Symlinks, b.Staged,
		b.Bytes, b.Hashed, b.Cached, b.Added, b.Changed, b.Removed).Scan(&b.ID)
	return s.wrap("record catalog build", err)
}

// CatalogBuilds implements store.Catalog.
func (s *DB) CatalogBuilds(ctx context.Context, limit int) ([]store.CatalogBuild, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, origin, started_at, finished_at, files, dirs, symlinks,
		staged, bytes, hashed, cached, added, changed, removed FROM catalog_builds ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, s.wrap("read catalog builds", err)
	}
	defer rows.Close()
	out := []store.CatalogBuild{}
	for rows.Next() {
		var b store.CatalogBuild
		if err := rows.Scan(&b.ID, &b.Origin, scanTime{&b.StartedAt}, scanTime{&b.FinishedAt}, &b.Files, &b.Dirs,
			&b.Symlinks, &b.Staged, &b.Bytes, &b.Hashed, &b.Cached, &b.Added, &b.Changed, &b.Removed); err != nil {
			return nil, s.wrap("read catalog builds", err)
		}
		out = append(out, b)
	}
	return out, s.wrap("read catalog builds", rows.Err())
}

// sameRow: nothing stored differs, hashes and disk identity included (a new
// inode must reach the store, or the next build's cache would miss).
func sameRow(a, b *catalog.Entry) bool {
	return a.Type == b.Type && a.Size == b.Size && a.ModTime.Equal(b.ModTime) && a.Mode == b.Mode &&
		a.Target == b.Target && a.LinkGroup == b.LinkGroup && a.Staged == b.Staged && a.Dev == b.Dev &&
		a.Inode == b.Inode && a.SHA256 == b.SHA256 && a.SHA1 == b.SHA1 && a.MD5 == b.MD5 && a.SHA512 == b.SHA512 &&
		a.PieceSize == b.PieceSize && bytes.Equal(a.Pieces, b.Pieces)
}
