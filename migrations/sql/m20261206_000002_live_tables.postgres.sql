-- Herald, PostgreSQL: what `herald watch` needs in the database to make any
-- table live (see src/db/live_tables/). Idempotent.

-- The watched tables and how: read by every instance (snapshots, the
-- topics notifications may not use) and by `herald watch` itself.
CREATE TABLE IF NOT EXISTS herald_watched_tables (
    table_name text PRIMARY KEY,
    key_column text NOT NULL,
    key_type text NOT NULL,
    scope_column text NULL,
    -- A JSON array of names.
    hidden_columns text NOT NULL,
    -- Every column as a JSON [name, type], in the table's order, as
    -- the triggers know them.
    columns text NOT NULL,
    -- SQLite's schema_version when the table's columns were last found as
    -- installed; unused here.
    schema_version bigint NULL,
    watched_at timestamptz NOT NULL DEFAULT now()
);

-- A row's topic can be longer than the 200 characters of a topic a client
-- names. varchar(200) to text rewrites nothing.
ALTER TABLE events ALTER COLUMN topic TYPE text;

-- One topic segment of any value (src/domain/topic_segment.rs): letters,
-- digits, - . : as themselves, every other UTF-8 byte as _XX, '' as _,
-- NULL as _null. The triggers test the common case (nothing to encode)
-- inline and call this only when something needs encoding.
CREATE OR REPLACE FUNCTION herald_topic_segment(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN value IS NULL THEN '_null'
        WHEN value = '' THEN '_'
        ELSE (SELECT string_agg(CASE WHEN b BETWEEN 48 AND 57 OR b BETWEEN 65 AND 90 OR b BETWEEN 97 AND 122
                                          OR b IN (45, 46, 58)
                                     THEN chr(b) ELSE '_' || upper(lpad(to_hex(b), 2, '0')) END, '' ORDER BY i)
              FROM (SELECT i, get_byte(convert_to(value, 'UTF8'), i) AS b
                    FROM generate_series(0, octet_length(convert_to(value, 'UTF8')) - 1) AS i) AS bytes)
    END
$$;
