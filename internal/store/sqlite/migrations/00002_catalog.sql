-- The origin catalog and its build history. Keep in meaning identical to
-- store/postgres/migrations/00002_catalog.sql.
-- Paths and symlink targets are BLOBs: file names may be any bytes, and must
-- match the origin's byte for byte. ids are never reused: the inventory indexes
-- files by them. dev and inode are uint64 stored bit for bit in a signed column.

-- +goose Up
CREATE TABLE catalog_entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    path        BLOB    NOT NULL UNIQUE,
    type        INTEGER NOT NULL CHECK (type BETWEEN 1 AND 3),
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    mode        INTEGER NOT NULL,
    target      BLOB    NOT NULL DEFAULT x'',
    link_group  BLOB    NOT NULL DEFAULT x'',
    staged      BOOLEAN NOT NULL DEFAULT FALSE,
    dev         INTEGER NOT NULL DEFAULT 0,
    inode       INTEGER NOT NULL DEFAULT 0,
    sha256      TEXT    NOT NULL DEFAULT '',
    sha1        TEXT    NOT NULL DEFAULT '',
    md5         TEXT    NOT NULL DEFAULT '',
    sha512      TEXT    NOT NULL DEFAULT '',
    piece_size  INTEGER NOT NULL DEFAULT 0,
    pieces      BLOB,
    -- the build that added or last changed the entry: a mirror's stored
    -- holdings count for it only if they were checked against that build or later
    changed_build INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE catalog_builds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    origin      TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT    NOT NULL,
    files       INTEGER NOT NULL,
    dirs        INTEGER NOT NULL,
    symlinks    INTEGER NOT NULL,
    staged      INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    hashed      INTEGER NOT NULL,
    cached      INTEGER NOT NULL,
    added       INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    removed     INTEGER NOT NULL
);

-- +goose Down
DROP TABLE catalog_builds;
DROP TABLE catalog_entries;
