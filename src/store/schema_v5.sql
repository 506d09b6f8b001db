-- iamlite schema, the tables version 5 added: virtual MFA devices and session credentials.
-- Virtual MFA devices. user_id NULL: not assigned. last_step: the newest TOTP step accepted from
-- the device, so that no code is accepted twice.
CREATE TABLE mfa_devices (
    serial_number TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(account_id),
    name          TEXT NOT NULL,
    path          TEXT NOT NULL,
    seed          TEXT NOT NULL,
    user_id       TEXT REFERENCES users(user_id),
    enable_date   INTEGER,
    create_date   INTEGER NOT NULL,
    last_step     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX mfa_devices_by_name ON mfa_devices(account_id, name);
CREATE INDEX mfa_devices_by_user ON mfa_devices(user_id);

-- Session credentials from GetSessionToken. user_id NULL: the root user's; a user's sessions end
-- with the user.
CREATE TABLE sessions (
    access_key_id TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(account_id),
    user_id       TEXT REFERENCES users(user_id) ON DELETE CASCADE,
    parent_key_id TEXT NOT NULL,
    secret        TEXT NOT NULL,
    token         TEXT NOT NULL,
    create_date   INTEGER NOT NULL,
    expiration    INTEGER NOT NULL,
    mfa           INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiration ON sessions(expiration);
