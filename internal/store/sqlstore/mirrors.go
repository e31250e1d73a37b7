package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// mirrorSelect reads a mirror with its site's and upstream's names, the form the
// registry package speaks.
const mirrorSelect = `SELECT m.id, m.name, s.name, m.http_url, m.https_url, m.ftp_url, m.rsync_url,
	m.tier, COALESCE(u.name, ''), m.country, m.continent, m.city, m.latitude, m.longitude,
	m.bandwidth_mbps, m.score, m.enabled, m.disabled_reason, m.public, m.large_files, m.ipv4, m.ipv6,
	m.max_file_size, m.content, m.netblocks, m.asns, m.country_only, m.continent_only, m.asn_only,
	m.exclude_countries, m.extra_countries, m.private_notes, m.report_token_hash, m.created_at, m.updated_at
	FROM mirrors m JOIN sites s ON s.id = m.site_id LEFT JOIN mirrors u ON u.id = m.upstream_id`

// mirrorColumns are the columns a write sets, in the order mirrorArgs gives them.
const mirrorColumns = `name, site_id, http_url, https_url, ftp_url, rsync_url, tier, upstream_id,
	country, continent, city, latitude, longitude, bandwidth_mbps, score, enabled, disabled_reason,
	public, large_files, ipv4, ipv6, max_file_size, content, netblocks, asns, country_only,
	continent_only, asn_only, exclude_countries, extra_countries, private_notes, report_token_hash,
	created_at, updated_at`

func scanMirror(r rowScanner) (registry.Mirror, error) {
	var m registry.Mirror
	var lat, lon sql.NullFloat64
	var content, netblocks, asns, exclude, extra string
	err := r.Scan(&m.ID, &m.Name, &m.Site, &m.URLs.HTTP, &m.URLs.HTTPS, &m.URLs.FTP, &m.URLs.Rsync,
		&m.Tier, &m.Upstream, &m.Location.Country, &m.Location.Continent, &m.Location.City, &lat, &lon,
		&m.BandwidthMbps, &m.Score, &m.Enabled, &m.DisabledReason, &m.Public, &m.LargeFiles, &m.IPv4, &m.IPv6,
		&m.MaxFileSize, &content, &netblocks, &asns, &m.Rules.CountryOnly, &m.Rules.ContinentOnly, &m.Rules.ASNOnly,
		&exclude, &extra, &m.PrivateNotes, &m.TokenHash, scanTime{&m.CreatedAt}, scanTime{&m.UpdatedAt})
	if err != nil {
		return m, err
	}
	if lat.Valid && lon.Valid {
		m.Location.Latitude, m.Location.Longitude = &lat.Float64, &lon.Float64
	}
	return m, errors.Join(
		decodeJSON("content", content, &m.Content),
		decodeJSON("netblocks", netblocks, &m.Netblocks),
		decodeJSON("asns", asns, &m.ASNs),
		decodeJSON("exclude_countries", exclude, &m.Rules.ExcludeCountries),
		decodeJSON("extra_countries", extra, &m.Rules.ExtraCountries),
	)
}

func (s *DB) mirrorArgs(m *registry.Mirror, siteID int64, upstreamID sql.NullInt64) []any {
	var lat, lon sql.NullFloat64
	if m.Location.Latitude != nil && m.Location.Longitude != nil {
		lat = sql.NullFloat64{Float64: *m.Location.Latitude, Valid: true}
		lon = sql.NullFloat64{Float64: *m.Location.Longitude, Valid: true}
	}
	return []any{m.Name, siteID, m.URLs.HTTP, m.URLs.HTTPS, m.URLs.FTP, m.URLs.Rsync, m.Tier, upstreamID,
		m.Location.Country, m.Location.Continent, m.Location.City, lat, lon,
		m.BandwidthMbps, m.Score, m.Enabled, m.DisabledReason, m.Public, m.LargeFiles, m.IPv4, m.IPv6,
		m.MaxFileSize, encodeJSON(m.Content), encodeJSON(m.Netblocks), encodeJSON(m.ASNs),
		m.Rules.CountryOnly, m.Rules.ContinentOnly, m.Rules.ASNOnly,
		encodeJSON(m.Rules.ExcludeCountries), encodeJSON(m.Rules.ExtraCountries), m.PrivateNotes, m.TokenHash,
		s.d.TimeArg(m.CreatedAt), s.d.TimeArg(m.UpdatedAt)}
}

// Mirror implements store.Registry.
func (s *DB) Mirror(ctx context.Context, name string) (registry.Mirror, error) {
	m, err := scanMirror(s.db.QueryRowContext(ctx, s.q(mirrorSelect+` WHERE m.name = ?`), name))
	if err != nil {
		return m, s.wrap(fmt.Sprintf("mirror %q", name), err)
	}
	return m, nil
}

// Mirrors implements store.Registry.
func (s *DB) Mirrors(ctx context.Context) ([]registry.Mirror, error) {
	return s.mirrors(ctx, s.db)
}

func (s *DB) mirrors(ctx context.Context, qr querier) ([]registry.Mirror, error) {
	rows, err := qr.QueryContext(ctx, mirrorSelect+` ORDER BY m.name`)
	if err != nil {
		return nil, s.wrap("list mirrors", err)
	}
	defer rows.Close()
	out := []registry.Mirror{}
	for rows.Next() {
		m, err := scanMirror(rows)
		if err != nil {
			return nil, s.wrap("list mirrors", err)
		}
		out = append(out, m)
	}
	return out, s.wrap("list mirrors", rows.Err())
}

// CreateMirror implements store.Registry.
func (s *DB) CreateMirror(ctx context.Context, m registry.Mirror) (registry.Mirror, error) {
	m.Normalize()
	if err := m.Validate(); err != nil {
		return m, err
	}
	m.CreatedAt = s.stamp()
	m.UpdatedAt = m.CreatedAt
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		siteID, upID, err := s.resolveMirror(ctx, tx, &m)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, s.q(`INSERT INTO mirrors (`+mirrorColumns+`) VALUES (`+placeholders(34)+`) RETURNING id`),
			s.mirrorArgs(&m, siteID, upID)...).Scan(&m.ID)
		return s.wrap(fmt.Sprintf("insert mirror %q", m.Name), err)
	})
	return m, err
}

// resolveMirror runs the checks that need the rest of the registry: a unique
// name, a known site, an upstream on a lower tier, and downstreams on a higher
// one. It returns the ids the row refers to.
func (s *DB) resolveMirror(ctx context.Context, tx *sql.Tx, m *registry.Mirror) (int64, sql.NullInt64, error) {
	var siteID int64
	var upID sql.NullInt64
	var other int64
	err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM mirrors WHERE name = ?`), m.Name).Scan(&other)
	switch {
	case err == nil && other != m.ID:
		return 0, upID, registry.Invalid("name", fmt.Sprintf("a mirror named %q already exists", m.Name))
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return 0, upID, s.wrap("check mirror name", err)
	}
	err = tx.QueryRowContext(ctx, s.q(`SELECT id FROM sites WHERE name = ?`), m.Site).Scan(&siteID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, upID, registry.Invalid("site", fmt.Sprintf("unknown site %q; add it first with `mirrorkit site add %s`", m.Site, m.Site))
	} else if err != nil {
		return 0, upID, s.wrap("look up site", err)
	}
	if m.Upstream != "" {
		var tier int
		err := tx.QueryRowContext(ctx, s.q(`SELECT id, tier FROM mirrors WHERE name = ?`), m.Upstream).Scan(&upID.Int64, &tier)
		tiers := map[string]int{}
		if err == nil {
			tiers[m.Upstream], upID.Valid = tier, true
		} else if !errors.Is(err, sql.ErrNoRows) {
			return 0, upID, s.wrap("look up upstream", err)
		}
		if err := registry.CheckUpstream(m, tiers); err != nil {
			return 0, upID, err
		}
	}
	if m.ID != 0 {
		var name string
		var tier int
		err := tx.QueryRowContext(ctx, s.q(`SELECT name, tier FROM mirrors WHERE upstream_id = ? AND tier <= ? ORDER BY tier, name LIMIT 1`),
			m.ID, m.Tier).Scan(&name, &tier)
		if err == nil {
			return 0, upID, registry.Invalid("tier", fmt.Sprintf("mirror %q (tier %d) syncs from this one, so its tier must stay below %d", name, tier, tier))
		} else if !errors.Is(err, sql.ErrNoRows) {
			return 0, upID, s.wrap("check downstream tiers", err)
		}
	}
	return siteID, upID, nil
}

// UpdateMirror implements store.Registry.
func (s *DB) UpdateMirror(ctx context.Context, m registry.Mirror) (registry.Mirror, error) {
	m.Normalize()
	if err := m.Validate(); err != nil {
		return m, err
	}
	if m.ID <= 0 {
		return m, fmt.Errorf("%s: update mirror %q without an id: %w", s.d.Name, m.Name, store.ErrNotFound)
	}
	read := m.UpdatedAt
	m.UpdatedAt = s.stamp()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// created_at is in the column list but must not change: write it back as stored.
		created, err := s.checkFresh(ctx, tx, "mirrors", m.ID, read)
		if err != nil {
			return err
		}
		m.CreatedAt = created
		siteID, upID, err := s.resolveMirror(ctx, tx, &m)
		if err != nil {
			return err
		}
		args := append(s.mirrorArgs(&m, siteID, upID), m.ID, s.d.TimeArg(read))
		res, err := tx.ExecContext(ctx, s.q(`UPDATE mirrors SET (`+mirrorColumns+`) = (`+placeholders(34)+`)
			WHERE id = ? AND updated_at = ?`), args...)
		if err != nil {
			return s.wrap(fmt.Sprintf("update mirror %q", m.Name), err)
		}
		return s.checkUpdated(res, "mirrors", m.ID)
	})
	return m, err
}

// DeleteMirror implements store.Registry.
func (s *DB) DeleteMirror(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM mirrors WHERE name = ?`), name).Scan(&id); err != nil {
			return s.wrap(fmt.Sprintf("mirror %q", name), err)
		}
		var down string
		err := tx.QueryRowContext(ctx, s.q(`SELECT name FROM mirrors WHERE upstream_id = ? ORDER BY name LIMIT 1`), id).Scan(&down)
		if err == nil {
			return fmt.Errorf("mirror %q is the upstream of %q; point that mirror elsewhere first: %w", name, down, store.ErrConflict)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return s.wrap("check downstreams", err)
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM mirrors WHERE id = ?`), id)
		return s.wrap(fmt.Sprintf("delete mirror %q", name), err)
	})
}

func placeholders(n int) string {
	b := make([]byte, 0, 3*n)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '?')
	}
	return string(b)
}
