package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// Export implements store.Registry. Sites and mirrors are read in one
// transaction so the snapshot is consistent under concurrent writers.
func (s *DB) Export(ctx context.Context) (registry.Snapshot, error) {
	var snap registry.Snapshot
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		sites, err := s.sites(ctx, tx)
		if err != nil {
			return err
		}
		mirrors, err := s.mirrors(ctx, tx)
		if err != nil {
			return err
		}
		snap = registry.NewSnapshot(sites, mirrors)
		return nil
	})
	return snap, err
}

// Import implements store.Registry.
func (s *DB) Import(ctx context.Context, snap registry.Snapshot, replace bool) error {
	if err := snap.Check(); err != nil {
		return err
	}
	mirrors := snap.MirrorList()
	// Upstreams are on lower tiers, so inserting by tier writes every upstream
	// before the mirrors that refer to it.
	sort.SliceStable(mirrors, func(i, j int) bool { return mirrors[i].Tier < mirrors[j].Tier })
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if replace {
			for _, table := range []string{"mirrors", "sites"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
					return s.wrap("clear "+table, err)
				}
			}
		} else {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM sites) + (SELECT COUNT(*) FROM mirrors)`).Scan(&n); err != nil {
				return s.wrap("count registry", err)
			}
			if n > 0 {
				return fmt.Errorf("the registry is not empty (%d sites and mirrors); import with replace to overwrite it: %w", n, store.ErrConflict)
			}
		}
		siteIDs := map[string]int64{}
		for i := range snap.Sites {
			st := snap.Sites[i]
			if err := s.insertSite(ctx, tx, &st, true); err != nil {
				return err
			}
			siteIDs[st.Name] = st.ID
		}
		mirrorIDs := map[string]int64{}
		for i := range mirrors {
			m := &mirrors[i]
			var up sql.NullInt64
			if m.Upstream != "" {
				up = sql.NullInt64{Int64: mirrorIDs[m.Upstream], Valid: true}
			}
			args := append([]any{m.ID}, s.mirrorArgs(m, siteIDs[m.Site], up)...)
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO mirrors (id, `+mirrorColumns+`) VALUES (`+placeholders(35)+`)`), args...); err != nil {
				return s.wrap(fmt.Sprintf("import mirror %q", m.Name), err)
			}
			mirrorIDs[m.Name] = m.ID
		}
		if s.d.AfterImport != nil {
			return s.d.AfterImport(ctx, tx)
		}
		return nil
	})
}
