-- Herald, SQLite: what `herald watch` needs in the database to make any
-- table live (see src/db/live_tables/). Idempotent. Run as one transaction.

BEGIN IMMEDIATE;

-- The watched tables and how: read by every instance (snapshots, the
-- topics notifications may not use) and by `herald watch` itself.
CREATE TABLE IF NOT EXISTS herald_watched_tables (
    table_name text NOT NULL PRIMARY KEY,
    key_column text NOT NULL,
    key_type text NOT NULL,
    scope_column text NULL,
    -- A JSON array of names.
    hidden_columns text NOT NULL,
    -- Every column as a JSON [name, type], in the table's order, as
    -- the triggers know them.
    columns text NOT NULL,
    -- PRAGMA schema_version when the table's columns were last found as
    -- the triggers know them: while it holds, the triggers need not look.
    schema_version integer NULL,
    watched_at text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
);

COMMIT;
