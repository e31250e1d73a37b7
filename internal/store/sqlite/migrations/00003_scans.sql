-- Scan history and each mirror's last good holdings. Keep in meaning identical
-- to store/postgres/migrations/00003_scans.sql.
-- A failed scan is recorded but never touches mirror_holdings: what is known
-- stays known. files is a serialized roaring bitmap of catalog entry ids.

-- +goose Up
CREATE TABLE mirror_scans (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    mirror_id     INTEGER NOT NULL REFERENCES mirrors (id) ON DELETE CASCADE,
    started_at    TEXT    NOT NULL,
    finished_at   TEXT    NOT NULL,
    protocol      TEXT    NOT NULL DEFAULT '',
    ok            BOOLEAN NOT NULL,
    entries       INTEGER NOT NULL DEFAULT 0,
    current       INTEGER NOT NULL DEFAULT 0,
    stale         INTEGER NOT NULL DEFAULT 0,
    unverified    INTEGER NOT NULL DEFAULT 0,
    missing       INTEGER NOT NULL DEFAULT 0,
    extra         INTEGER NOT NULL DEFAULT 0,
    claimed       INTEGER NOT NULL DEFAULT 0,
    trace_time    TEXT   ,
    error         TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX mirror_scans_mirror ON mirror_scans (mirror_id, id);

CREATE TABLE mirror_holdings (
    mirror_id     INTEGER PRIMARY KEY REFERENCES mirrors (id) ON DELETE CASCADE,
    scan_id       INTEGER NOT NULL,
    catalog_build INTEGER NOT NULL,
    files         BLOB    NOT NULL
);

-- +goose Down
DROP TABLE mirror_holdings;
DROP TABLE mirror_scans;
