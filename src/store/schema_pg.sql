-- iamlite schema on PostgreSQL, version 5 (the same tables, columns and meaning as SQLite's
-- schema.sql + schema_v5.sql). Timestamps are milliseconds since the Unix epoch (UTC).
-- Differences: names are unique ignoring case through a lower(name) index (user names are ASCII,
-- so lower() is SQLite's NOCASE in every locale), and text that orders pages sorts with
-- COLLATE "C", byte order, as SQLite does.

CREATE TABLE accounts (
    account_id  TEXT COLLATE "C" PRIMARY KEY,
    create_date BIGINT NOT NULL
);

CREATE TABLE users (
    user_id     TEXT COLLATE "C" PRIMARY KEY,
    account_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts(account_id),
    name        TEXT COLLATE "C" NOT NULL,
    path        TEXT COLLATE "C" NOT NULL,
    create_date BIGINT NOT NULL,
    permissions_boundary TEXT,
    email       TEXT,
    last_modified BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_by_name ON users(account_id, lower(name));

CREATE TABLE user_tags (
    user_id   TEXT COLLATE "C" NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    key_lower TEXT COLLATE "C" NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (user_id, key_lower)
);

CREATE TABLE access_keys (
    access_key_id     TEXT COLLATE "C" PRIMARY KEY,
    account_id        TEXT COLLATE "C" NOT NULL REFERENCES accounts(account_id),
    user_id           TEXT COLLATE "C" REFERENCES users(user_id),
    secret            TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    create_date       BIGINT NOT NULL,
    status_effective  BIGINT NOT NULL DEFAULT 0,
    prior_status      TEXT CHECK (prior_status IN ('Active', 'Inactive')),
    last_used_date    BIGINT,
    last_used_service TEXT,
    last_used_region  TEXT,
    expiration_date   BIGINT,
    tag               TEXT,
    last_modified     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX access_keys_by_owner ON access_keys(account_id, user_id, create_date, access_key_id);

CREATE TABLE deleted_access_keys (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT NOT NULL,
    user_id       TEXT,
    user_name     TEXT,
    user_path     TEXT,
    secret        TEXT NOT NULL,
    status        TEXT NOT NULL,
    deleted_at    BIGINT NOT NULL,
    visible_until BIGINT NOT NULL,
    expiration_date BIGINT
);

CREATE TABLE mfa_devices (
    serial_number TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts(account_id),
    name          TEXT COLLATE "C" NOT NULL,
    path          TEXT NOT NULL,
    seed          TEXT NOT NULL,
    user_id       TEXT COLLATE "C" REFERENCES users(user_id),
    enable_date   BIGINT,
    create_date   BIGINT NOT NULL,
    last_step     BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX mfa_devices_by_name ON mfa_devices(account_id, name);
CREATE INDEX mfa_devices_by_user ON mfa_devices(user_id);

CREATE TABLE sessions (
    access_key_id TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts(account_id),
    user_id       TEXT COLLATE "C" REFERENCES users(user_id) ON DELETE CASCADE,
    parent_key_id TEXT NOT NULL,
    secret        TEXT NOT NULL,
    token         TEXT NOT NULL,
    create_date   BIGINT NOT NULL,
    expiration    BIGINT NOT NULL,
    mfa           BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiration ON sessions(expiration);
