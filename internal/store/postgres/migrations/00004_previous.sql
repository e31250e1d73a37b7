-- Previous versions, for redirecting to mirrors that are one version behind
-- where the redirector allows it. Keep in meaning identical to
-- store/sqlite/migrations/00004_previous.sql.
-- prev_size is -1 when the entry has no previous version (it was added, not
-- changed). changed_at_ns is when the build that last changed the entry
-- finished (0: unknown), the start of every mirror's lag for that file.
-- mirror_holdings.previous is a roaring bitmap of the entries whose previous
-- version the mirror held; NULL for holdings made before this migration.

-- +goose Up
ALTER TABLE catalog_entries ADD COLUMN prev_size BIGINT NOT NULL DEFAULT -1;
ALTER TABLE catalog_entries ADD COLUMN prev_mtime_ns BIGINT NOT NULL DEFAULT 0;
ALTER TABLE catalog_entries ADD COLUMN changed_at_ns BIGINT NOT NULL DEFAULT 0;
ALTER TABLE mirror_holdings ADD COLUMN previous BYTEA;
ALTER TABLE mirror_scans ADD COLUMN previous BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE mirror_scans DROP COLUMN previous;
ALTER TABLE mirror_holdings DROP COLUMN previous;
ALTER TABLE catalog_entries DROP COLUMN changed_at_ns;
ALTER TABLE catalog_entries DROP COLUMN prev_mtime_ns;
ALTER TABLE catalog_entries DROP COLUMN prev_size;
