-- The registry: sites and their mirrors. Keep in meaning identical to
-- store/postgres/migrations/00001_registry.sql; the conformance suite checks it.
-- Lists are JSON arrays: they are small and always read whole.
-- AUTOINCREMENT so an id is never reused after a delete: other tables and the
-- in-memory inventory index mirrors by id.

-- +goose Up
CREATE TABLE sites (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    sponsor       TEXT    NOT NULL DEFAULT '',
    sponsor_url   TEXT    NOT NULL DEFAULT '',
    contacts      TEXT    NOT NULL DEFAULT '[]',
    private_notes TEXT    NOT NULL DEFAULT '',
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE mirrors (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL UNIQUE,
    site_id           INTEGER NOT NULL REFERENCES sites (id),
    http_url          TEXT    NOT NULL DEFAULT '',
    https_url         TEXT    NOT NULL DEFAULT '',
    ftp_url           TEXT    NOT NULL DEFAULT '',
    rsync_url         TEXT    NOT NULL DEFAULT '',
    tier              INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 3),
    upstream_id       INTEGER REFERENCES mirrors (id),
    country           TEXT    NOT NULL,
    continent         TEXT    NOT NULL,
    city              TEXT    NOT NULL DEFAULT '',
    latitude          REAL    CHECK (latitude BETWEEN -90 AND 90),
    longitude         REAL    CHECK (longitude BETWEEN -180 AND 180),
    bandwidth_mbps    INTEGER NOT NULL DEFAULT 0 CHECK (bandwidth_mbps >= 0),
    score             INTEGER NOT NULL DEFAULT 100 CHECK (score >= 0),
    enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason   TEXT    NOT NULL DEFAULT '',
    public            BOOLEAN NOT NULL DEFAULT TRUE,
    large_files       BOOLEAN NOT NULL DEFAULT TRUE,
    ipv4              BOOLEAN NOT NULL DEFAULT TRUE,
    ipv6              BOOLEAN NOT NULL DEFAULT FALSE,
    max_file_size     INTEGER NOT NULL DEFAULT 0 CHECK (max_file_size >= 0),
    content           TEXT    NOT NULL DEFAULT '[]',
    netblocks         TEXT    NOT NULL DEFAULT '[]',
    asns              TEXT    NOT NULL DEFAULT '[]',
    country_only      BOOLEAN NOT NULL DEFAULT FALSE,
    continent_only    BOOLEAN NOT NULL DEFAULT FALSE,
    asn_only          BOOLEAN NOT NULL DEFAULT FALSE,
    exclude_countries TEXT    NOT NULL DEFAULT '[]',
    extra_countries   TEXT    NOT NULL DEFAULT '[]',
    private_notes     TEXT    NOT NULL DEFAULT '',
    report_token_hash TEXT    NOT NULL DEFAULT '',
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
);

CREATE INDEX mirrors_site_id ON mirrors (site_id);
CREATE INDEX mirrors_upstream_id ON mirrors (upstream_id);

-- +goose Down
DROP TABLE mirrors;
DROP TABLE sites;
