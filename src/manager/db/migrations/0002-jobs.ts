/**
 * Migration 2: backup settings (SPEC Fig. 10) with their schedule state, and jobs: every
 * long action as a recorded state machine (its parameters, what its steps have learned,
 * the step in progress) with a step log that names SPEC's step numbers.
 */
export const sql = `
CREATE TABLE backup_settings (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  volume          TEXT NOT NULL,            -- the volume's unique ID
  store           TEXT NOT NULL REFERENCES stores(name),
  method          TEXT NOT NULL CHECK (method IN ('full', 'incremental', 'differential')),
  schedule_json   TEXT NOT NULL,
  retention_json  TEXT,
  enabled         INTEGER NOT NULL DEFAULT 1,
  runs            INTEGER NOT NULL DEFAULT 0,
  next_run_at     TEXT,                     -- null: nothing more to run
  last_run_at     TEXT,
  last_job        TEXT,
  created_at      TEXT NOT NULL
);
CREATE INDEX backup_settings_next ON backup_settings(next_run_at);

CREATE TABLE jobs (
  id            TEXT PRIMARY KEY,
  kind          TEXT NOT NULL,
  title         TEXT NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'paused', 'cancelling', 'succeeded', 'failed', 'cancelled')),
  lock_key      TEXT,                     -- at most one active job per key (a volume, say)
  params_json   TEXT NOT NULL,
  data_json     TEXT NOT NULL,
  step          TEXT,
  progress_json TEXT,
  result_json   TEXT,
  error_json    TEXT,
  paused_reason TEXT,
  waiting_node  TEXT,
  setting       TEXT,
  late          INTEGER NOT NULL DEFAULT 0,
  created_by    TEXT,
  created_at    TEXT NOT NULL,
  started_at    TEXT,
  ended_at      TEXT,
  updated_at    TEXT NOT NULL
);
CREATE INDEX jobs_state ON jobs(state);
CREATE INDEX jobs_setting ON jobs(setting);
CREATE UNIQUE INDEX jobs_active_lock ON jobs(lock_key)
  WHERE lock_key IS NOT NULL AND state IN ('queued', 'running', 'paused', 'cancelling');

CREATE TABLE job_log (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  job     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  at      TEXT NOT NULL,
  step    TEXT NOT NULL,
  spec    TEXT,
  status  TEXT NOT NULL CHECK (status IN ('started', 'done', 'failed', 'paused', 'info')),
  message TEXT NOT NULL
);
CREATE INDEX job_log_job ON job_log(job, id);
`;
