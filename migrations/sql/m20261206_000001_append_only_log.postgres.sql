-- Herald, PostgreSQL (checked on 15; needs 13 for xid8): the event log
-- becomes append-only, and a transaction takes the event counter when it
-- commits, not at its first write.
--
-- Up-migration from m20261202_000002. Idempotent. No row is rewritten. Run
-- it in one transaction (sea-orm's default on PostgreSQL; psql -1).
--
-- 1. Staging. A change to a table whose writes become events (users today)
--    does not take the counter: its row trigger stages the event in
--    herald_staged_events, under the transaction's id, in the order of the
--    changes. The first row staged since the last flush carries `flush`,
--    and a deferred constraint trigger on it calls herald_flush_events() at
--    COMMIT (or at SET CONSTRAINTS … IMMEDIATE): that takes the counter,
--    moves every staged event of the transaction into `events` with the
--    next ids, in staging order, and wakes the instances. The counter is
--    therefore held for the commit alone: a transaction left open at a psql
--    prompt holds up no other writer, ids stay gapless and in commit order,
--    and a rolled-back transaction (or savepoint) takes its staged events
--    with it. The table is UNLOGGED: its rows never outlive their
--    transaction, so they need no WAL.
-- 2. Append-only. `events` takes an INSERT only with the counter's next
--    ids, and that INSERT advances the counter; it refuses UPDATE and
--    TRUNCATE, and a DELETE that would leave an older event behind (only a
--    prefix goes: retention). The counter moves only with the log.

CREATE UNLOGGED TABLE IF NOT EXISTS herald_staged_events (
    tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- Only its order within one session matters; a cache keeps nextval()
    -- off the sequence's buffer lock.
    seq bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000),
    topic text NOT NULL,
    event text NOT NULL,
    -- The envelope's `data`, as JSON text.
    data text NOT NULL,
    at timestamptz NOT NULL,
    sse_event text NULL,
    flush boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tx, seq)
);

-- Whether the event being staged is the first since the transaction last
-- flushed, and so must queue a flush at commit. A setting made in a
-- savepoint that rolls back is undone with the rows staged there.
CREATE OR REPLACE FUNCTION herald_flush_due() RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('herald.flush_queued', true) = 'yes' THEN
        RETURN false;
    END IF;
    PERFORM set_config('herald.flush_queued', 'yes', true);
    RETURN true;
END
$$;

-- The envelope of src/domain/event.rs, in serde's key order, with `at` in
-- RFC 3339 UTC with six fractional digits.
CREATE OR REPLACE FUNCTION herald_envelope(id bigint, event text, topic text, at timestamptz, data text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT '{"id":' || id || ',"event":' || to_json(event) || ',"topic":' || to_json(topic)
        || ',"at":"' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '","data":' || data || '}'
$$;

-- Takes the counter (until the transaction ends) and returns the newest
-- id. The first call of a transaction remembers where its events begin
-- (herald_transaction_events) and asks PostgreSQL to wake every instance
-- (LISTEN herald_events) once the transaction commits: the payload is
-- constant, so the notifications of one transaction fold into one.
CREATE OR REPLACE FUNCTION herald_take_event_counter() RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    newest bigint;
BEGIN
    SELECT last_id INTO STRICT newest FROM event_counter WHERE id = 1 FOR NO KEY UPDATE;
    IF coalesce(current_setting('herald.first_event_id', true), '') = '' THEN
        PERFORM set_config('herald.first_event_id', (newest + 1)::text, true),
                pg_notify('herald_events', '');
    END IF;
    RETURN newest;
END
$$;

-- Moves the transaction's staged events into the log with the next ids.
CREATE OR REPLACE FUNCTION herald_flush_events() RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    newest bigint;
BEGIN
    PERFORM set_config('herald.flush_queued', '', true);
    -- Nothing staged (the writer flushed already): the counter stays free.
    IF NOT EXISTS (SELECT 1 FROM herald_staged_events WHERE tx = pg_current_xact_id()) THEN
        RETURN;
    END IF;
    newest := herald_take_event_counter();
    WITH staged AS (
        DELETE FROM herald_staged_events WHERE tx = pg_current_xact_id() RETURNING *
    ), numbered AS (
        SELECT newest + row_number() OVER (ORDER BY seq) AS id, * FROM staged
    )
    INSERT INTO events (id, topic, payload, created_at, sse_event)
    SELECT n.id, n.topic, herald_envelope(n.id, n.event, n.topic, n.at, n.data), n.at, n.sse_event
    FROM numbered AS n ORDER BY n.id;
END
$$;

CREATE OR REPLACE FUNCTION herald_flush_at_commit() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM herald_flush_events();
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS herald_staged_events_flush ON herald_staged_events;
CREATE CONSTRAINT TRIGGER herald_staged_events_flush
    AFTER INSERT ON herald_staged_events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.flush)
    EXECUTE FUNCTION herald_flush_at_commit();

-- For Herald's own appends (a notification): the events staged before it
-- go first, then it takes the next id.
CREATE OR REPLACE FUNCTION herald_next_event_id() RETURNS bigint
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM herald_flush_events();
    RETURN herald_take_event_counter() + 1;
END
$$;

-- Every event this transaction appended, once its staged ones are in: what
-- Herald's writer announces after the commit.
CREATE OR REPLACE FUNCTION herald_transaction_events()
RETURNS TABLE (id bigint, topic text, payload text, created_at timestamptz, sse_event text)
LANGUAGE plpgsql
AS $$
DECLARE
    first bigint;
BEGIN
    PERFORM herald_flush_events();
    first := nullif(current_setting('herald.first_event_id', true), '')::bigint;
    IF first IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT e.id, e.topic::text, e.payload, e.created_at, e.sse_event::text FROM events AS e
        WHERE e.id >= first AND e.id <= (SELECT c.last_id FROM event_counter AS c WHERE c.id = 1)
        ORDER BY e.id;
END
$$;

-- The log's rules. ---------------------------------------------------------

-- An INSERT takes the next ids, one after the other, and advances the
-- counter to the last of them: whoever appends holds the counter
-- (herald_take_event_counter), so another transaction's append waits, then
-- finds the counter moved and is refused.
CREATE OR REPLACE FUNCTION herald_events_take_next_ids() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    lowest bigint;
    highest bigint;
    appended bigint;
BEGIN
    SELECT min(id), max(id), count(*) INTO lowest, highest, appended FROM appended_events;
    IF appended = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE event_counter SET last_id = highest
    WHERE id = 1 AND last_id = lowest - 1 AND highest - lowest + 1 = appended;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'events are appended with the next ids of event_counter (its last_id + 1, + 2, …), which the append takes: the log is append-only'
            USING ERRCODE = 'check_violation', TABLE = 'events';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION herald_events_delete_prefix_only() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM events WHERE id < (SELECT max(id) FROM removed_events)) THEN
        RAISE EXCEPTION 'only the oldest events can be deleted (a prefix of the log, as retention does): the log is append-only and must not have holes'
            USING ERRCODE = 'check_violation', TABLE = 'events';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION herald_refuse_rewriting_events() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '% % is refused: the event log is append-only (events are appended with the next ids, and only a prefix is deleted)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME;
END
$$;

-- The counter only follows the log: it moves to the newest event's id, and
-- never back.
CREATE OR REPLACE FUNCTION herald_counter_follows_the_log() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.last_id < OLD.last_id
            OR NEW.last_id <> coalesce((SELECT max(id) FROM events), OLD.last_id) THEN
        RAISE EXCEPTION 'event_counter moves only when events are appended, to the newest id'
            USING ERRCODE = 'check_violation', TABLE = 'event_counter';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER events_take_next_ids
    AFTER INSERT ON events REFERENCING NEW TABLE AS appended_events
    FOR EACH STATEMENT EXECUTE FUNCTION herald_events_take_next_ids();
CREATE OR REPLACE TRIGGER events_delete_prefix_only
    AFTER DELETE ON events REFERENCING OLD TABLE AS removed_events
    FOR EACH STATEMENT EXECUTE FUNCTION herald_events_delete_prefix_only();
CREATE OR REPLACE TRIGGER events_refuse_update
    BEFORE UPDATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION herald_refuse_rewriting_events();
CREATE OR REPLACE TRIGGER events_refuse_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION herald_refuse_rewriting_events();
CREATE OR REPLACE TRIGGER event_counter_follows_the_log
    BEFORE UPDATE ON event_counter
    FOR EACH ROW EXECUTE FUNCTION herald_counter_follows_the_log();
CREATE OR REPLACE TRIGGER event_counter_refuse_delete
    BEFORE DELETE ON event_counter
    FOR EACH STATEMENT EXECUTE FUNCTION herald_refuse_rewriting_events();
CREATE OR REPLACE TRIGGER event_counter_refuse_truncate
    BEFORE TRUNCATE ON event_counter
    FOR EACH STATEMENT EXECUTE FUNCTION herald_refuse_rewriting_events();

-- users: its events are staged (see above) rather than appended at once,
-- by one set-based statement per statement of users (its rows in
-- transition tables): cheaper than a plpgsql call per row, which is what
-- keeps a batch of API creates as fast as when its events were appended
-- at once. --

DROP TRIGGER IF EXISTS users_lock_event_counter ON users;
DROP TRIGGER IF EXISTS users_advance_event_counter ON users;
DROP FUNCTION IF EXISTS herald_lock_event_counter();
DROP FUNCTION IF EXISTS herald_advance_event_counter();
DROP TRIGGER IF EXISTS users_created ON users;
DROP TRIGGER IF EXISTS users_updated ON users;
DROP TRIGGER IF EXISTS users_deleted ON users;
DROP FUNCTION IF EXISTS herald_users_append_event();

-- src/domain/user.rs's User, after the write; times in RFC 3339 UTC with
-- six fractional digits and Z.
CREATE OR REPLACE FUNCTION herald_user_json(id uuid, user_name text, email text, display_name text,
                                            version bigint, created_at timestamptz, updated_at timestamptz)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT '{"id":"' || id || '","user_name":' || to_json(user_name) || ',"email":' || to_json(email)
        || ',"display_name":' || coalesce(to_json(display_name)::text, 'null') || ',"version":' || version
        || ',"created_at":"' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '","updated_at":"' || to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"}'
$$;

-- One staged event per changed row, in the order the statement changed
-- them (an UPDATE's old and new rows pair up by their place in their
-- transition tables). AFTER, so that a row that ON CONFLICT DO NOTHING
-- skips makes none; an UPDATE that changes no value of user_name, email or
-- display_name makes none. `data` is what serde writes for
-- src/domain/event.rs's user data: keys in that order, no spaces, strings
-- through to_json (which escapes as serde_json does); `updated_fields` in
-- alphabetical order (a serde_json map), every field set on create, the
-- fields whose value changed on update.
CREATE OR REPLACE FUNCTION herald_users_stage_events() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO herald_staged_events (topic, event, data, at, flush)
        SELECT 'users/' || n.id, 'user_created',
               '{"user_id":"' || n.id || '","updated_fields":{' || concat_ws(',',
                   CASE WHEN n.display_name IS NOT NULL THEN '"display_name":' || to_json(n.display_name) END,
                   '"email":' || to_json(n.email), '"user_name":' || to_json(n.user_name))
               || '},"user":' || herald_user_json(n.id, n.user_name, n.email, n.display_name, n.version, n.created_at, n.updated_at) || '}',
               n.updated_at, CASE WHEN row_number() OVER () = 1 THEN herald_flush_due() ELSE false END
        FROM herald_new AS n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO herald_staged_events (topic, event, data, at, flush)
        SELECT 'users/' || o.id, 'user_deleted',
               '{"user_id":"' || o.id || '","updated_fields":{},"user":null}',
               clock_timestamp(), CASE WHEN row_number() OVER () = 1 THEN herald_flush_due() ELSE false END
        FROM herald_old AS o;
    ELSE
        INSERT INTO herald_staged_events (topic, event, data, at, flush)
        SELECT 'users/' || n.id, 'user_updated',
               '{"user_id":"' || n.id || '","updated_fields":{' || concat_ws(',',
                   CASE WHEN n.display_name IS DISTINCT FROM o.display_name
                        THEN '"display_name":' || coalesce(to_json(n.display_name)::text, 'null') END,
                   CASE WHEN n.email IS DISTINCT FROM o.email THEN '"email":' || to_json(n.email) END,
                   CASE WHEN n.user_name IS DISTINCT FROM o.user_name THEN '"user_name":' || to_json(n.user_name) END)
               || '},"user":' || herald_user_json(n.id, n.user_name, n.email, n.display_name, n.version, n.created_at, n.updated_at) || '}',
               n.updated_at, CASE WHEN row_number() OVER () = 1 THEN herald_flush_due() ELSE false END
        FROM (SELECT row_number() OVER () AS herald_position, * FROM herald_new) AS n
        JOIN (SELECT row_number() OVER () AS herald_position, * FROM herald_old) AS o USING (herald_position)
        WHERE n.user_name IS DISTINCT FROM o.user_name OR n.email IS DISTINCT FROM o.email
           OR n.display_name IS DISTINCT FROM o.display_name
        ORDER BY herald_position;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_created AFTER INSERT ON users REFERENCING NEW TABLE AS herald_new
    FOR EACH STATEMENT EXECUTE FUNCTION herald_users_stage_events();
CREATE TRIGGER users_updated AFTER UPDATE ON users REFERENCING OLD TABLE AS herald_old NEW TABLE AS herald_new
    FOR EACH STATEMENT EXECUTE FUNCTION herald_users_stage_events();
CREATE TRIGGER users_deleted AFTER DELETE ON users REFERENCING OLD TABLE AS herald_old
    FOR EACH STATEMENT EXECUTE FUNCTION herald_users_stage_events();
