/**
 * Migration 1: the registry (SPEC "The parts", Fig. 7, Fig. 9), users and tokens, the
 * audit and event logs. Times are ISO 8601 UTC strings; secrets are SecretBox-sealed
 * ("v1:..."), passwords scrypt hashes, API tokens SHA-256 hashes.
 */
export const sql = `
CREATE TABLE sites (
  name        TEXT PRIMARY KEY,
  role        TEXT NOT NULL CHECK (role IN ('primary', 'secondary')),
  created_at  TEXT NOT NULL
);

CREATE TABLE nodes (
  name              TEXT PRIMARY KEY,
  site              TEXT NOT NULL REFERENCES sites(name),
  api_url           TEXT NOT NULL,
  sealed_token      TEXT NOT NULL,
  serial            TEXT NOT NULL UNIQUE,
  health            TEXT NOT NULL CHECK (health IN ('ok', 'unreachable')),
  health_reason     TEXT,
  health_changed_at TEXT NOT NULL,
  last_seen_at      TEXT,
  created_at        TEXT NOT NULL
);

-- SPEC Fig. 7: volume management information, kept in step with the nodes.
CREATE TABLE volumes (
  unique_id           TEXT PRIMARY KEY,
  node                TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
  name                TEXT NOT NULL,
  serial              TEXT NOT NULL,
  number              INTEGER NOT NULL,
  size_bytes          INTEGER NOT NULL,
  used_bytes          INTEGER NOT NULL,
  pool                TEXT NOT NULL,
  inherited_unique_id TEXT,
  backed_up           INTEGER NOT NULL DEFAULT 0,
  last_backup_at      TEXT,
  created_at          TEXT NOT NULL,
  synced_at           TEXT NOT NULL,
  UNIQUE (node, name)
);
CREATE INDEX volumes_name ON volumes(name);

-- SPEC Fig. 9: object store registrations.
CREATE TABLE stores (
  name                  TEXT PRIMARY KEY,
  provider              TEXT NOT NULL CHECK (provider IN ('directory', 's3')),
  path                  TEXT,
  endpoint              TEXT,
  region                TEXT,
  bucket                TEXT,
  access_key_id         TEXT,
  sealed_secret_key     TEXT,
  encryption            TEXT NOT NULL CHECK (encryption IN ('none', 'aes-256-gcm')),
  sealed_encryption_key TEXT,
  tags_json             TEXT NOT NULL DEFAULT '{}',
  created_at            TEXT NOT NULL
);

CREATE TABLE users (
  name          TEXT PRIMARY KEY,
  role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  password_hash TEXT,
  created_at    TEXT NOT NULL
);

CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  user         TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  token_hash   TEXT NOT NULL UNIQUE,
  created_at   TEXT NOT NULL,
  expires_at   TEXT,
  last_used_at TEXT
);

CREATE TABLE audit_log (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      TEXT NOT NULL,
  actor   TEXT,
  role    TEXT,
  method  TEXT NOT NULL,
  path    TEXT NOT NULL,
  status  INTEGER NOT NULL,
  ip      TEXT
);

CREATE TABLE event_log (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  at          TEXT NOT NULL,
  level       TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),
  kind        TEXT NOT NULL,
  subject     TEXT,
  message     TEXT NOT NULL,
  detail_json TEXT
);
`;
