-- iamlite schema, version 4 (v2 added users.permissions_boundary; v3 stores propagation deadlines;
-- v4 adds expiration dates, tags and modification dates of keys, and users' email addresses;
-- v5 adds virtual MFA devices and session credentials). Timestamps are milliseconds since the Unix epoch (UTC).

CREATE TABLE accounts (
    account_id  TEXT PRIMARY KEY,
    create_date INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    user_id     TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(account_id),
    name        TEXT NOT NULL,
    path        TEXT NOT NULL,
    create_date INTEGER NOT NULL,
    permissions_boundary TEXT,
    email       TEXT,
    last_modified INTEGER NOT NULL DEFAULT 0
);
-- IAM user names are unique per account without regard to case.
CREATE UNIQUE INDEX users_by_name ON users(account_id, name COLLATE NOCASE);

CREATE TABLE user_tags (
    user_id   TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    key_lower TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (user_id, key_lower)
) WITHOUT ROWID;

-- user_id NULL marks a key of the account's root user.
-- status_effective and prior_status model IAM's propagation delay: until status_effective (the
-- change's time plus the delay in force when it was made) the key still behaves as prior_status
-- (NULL: as if it did not exist yet). Seeded and imported keys use 0.
CREATE TABLE access_keys (
    access_key_id     TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts(account_id),
    user_id           TEXT REFERENCES users(user_id),
    secret            TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    create_date       INTEGER NOT NULL,
    status_effective  INTEGER NOT NULL DEFAULT 0,
    prior_status      TEXT CHECK (prior_status IN ('Active', 'Inactive')),
    last_used_date    INTEGER,
    last_used_service TEXT,
    last_used_region  TEXT,
    -- NULL: never expires. A key past it stops authenticating at once, on every face.
    expiration_date   INTEGER,
    tag               TEXT,
    last_modified     INTEGER NOT NULL DEFAULT 0
);
-- Covers ListAccessKeys and ReadAccessKeys (every column they show), so a listing never visits
-- the table itself.
CREATE INDEX access_keys_by_owner ON access_keys(account_id, user_id, create_date, access_key_id,
    status, expiration_date, tag, last_modified);

-- Keys deleted less than a propagation delay ago still sign requests until visible_until (fixed at
-- deletion, so a longer delay after a restart does not revive them); only used with a delay.
CREATE TABLE deleted_access_keys (
    access_key_id TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    user_id       TEXT,
    user_name     TEXT,
    user_path     TEXT,
    secret        TEXT NOT NULL,
    status        TEXT NOT NULL,
    deleted_at    INTEGER NOT NULL,
    visible_until INTEGER NOT NULL,
    expiration_date INTEGER
);

-- Version 5's tables (virtual MFA devices, sessions) are in schema_v5.sql, which the upgrade
-- from version 4 runs too.
