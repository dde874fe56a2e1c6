/**
 * Migration 3: disaster recovery. How each secondary site is built (its site provider
 * configuration, sealed: a static site's config holds a node token) and its host hooks;
 * and per protected volume, where it is active and what a failback needs to know (the
 * base generation the secondary was restored from, whether consistency assurance on the
 * primary is done or still owed).
 */
export const sql = `
CREATE TABLE site_providers (
  site          TEXT PRIMARY KEY REFERENCES sites(name) ON DELETE CASCADE,
  sealed_config TEXT NOT NULL,
  hooks_json    TEXT,
  created_at    TEXT NOT NULL
);

CREATE TABLE dr_volumes (
  lineage             TEXT PRIMARY KEY,
  primary_node        TEXT NOT NULL,
  primary_volume      TEXT NOT NULL,
  active              TEXT NOT NULL CHECK (active IN ('primary', 'secondary')),
  state               TEXT NOT NULL,
  store               TEXT,
  base_generation     TEXT,
  secondary_site      TEXT,
  secondary_node      TEXT,
  secondary_volume    TEXT,
  consistency         TEXT,
  consistency_detail  TEXT,
  failover_job        TEXT,
  failback_job        TEXT,
  failed_over_at      TEXT,
  failed_back_at      TEXT,
  updated_at          TEXT NOT NULL
);
`;
