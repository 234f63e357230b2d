-- Herald, PostgreSQL (checked on 15): every committed write to
-- `users`, from any session, appends its event in the same transaction and
-- wakes the instances that LISTEN herald_events.
--
-- Up-migration from the schema of migrations m20261122_000001 …
-- m20261201_100001, for an existing or a fresh database alike. Idempotent
-- (CREATE OR REPLACE throughout). No row is rewritten. Run it in one
-- transaction (sea-orm's default on PostgreSQL; psql -1).
--
-- Everything per row is plpgsql: PostgreSQL 15 plans a SQL function that it
-- cannot inline again on every statement (~50 us a call here).

ALTER TABLE users ALTER COLUMN version SET DEFAULT 1;
-- The trigger's rules bound these more tightly and name the column; a
-- varchar(n) would refuse first, with a message that names neither. Dropping
-- the length rewrites nothing (no index is on them). Once the triggers exist
-- (a second run) the columns cannot be altered, nor need to be.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'users'
                   AND column_name IN ('user_name', 'email', 'display_name')
                   AND character_maximum_length IS NOT NULL) THEN
        ALTER TABLE users
            ALTER COLUMN user_name TYPE varchar,
            ALTER COLUMN email TYPE varchar,
            ALTER COLUMN display_name TYPE varchar;
    END IF;
END
$$;

-- Fills in what the API fills in, keeps the derived keys right, bumps the
-- version, and refuses what the API refuses (src/domain/{user_name,email,
-- display_name}.rs). An UPDATE checks only the fields it changes, so that a
-- row from before a rule can still have its other fields edited.
CREATE OR REPLACE FUNCTION herald_users_before_write() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    now timestamptz := clock_timestamp();
    micros bigint;
    changed boolean := TG_OP = 'INSERT';
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.version IS DISTINCT FROM 1 OR NEW.created_at IS NOT NULL OR NEW.updated_at IS NOT NULL THEN
            RAISE EXCEPTION 'version, created_at and updated_at are set by the database: leave them out'
                USING ERRCODE = 'check_violation', TABLE = 'users';
        END IF;
        IF NEW.id IS NULL THEN
            -- A UUID v7 (RFC 9562): 48 bits of Unix milliseconds, the
            -- microseconds within that millisecond scaled to rand_a's 12
            -- bits (its method 3), 62 random bits: ids the database makes
            -- sort by creation time to the microsecond.
            micros := (extract(epoch FROM now) * 1000000)::bigint;
            NEW.id := encode(int8send(((micros / 1000) << 16) | (7 << 12) | ((micros % 1000) * 4096 / 1000))
                             || substring(uuid_send(gen_random_uuid()) FROM 9), 'hex')::uuid;
        END IF;
        NEW.created_at := now;
        NEW.updated_at := now;
    ELSE
        -- id names the user's topic, created_at is history.
        IF NEW.id <> OLD.id OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
            RAISE EXCEPTION 'id and created_at cannot change'
                USING ERRCODE = 'check_violation', TABLE = 'users';
        END IF;
        IF NEW.version IS DISTINCT FROM OLD.version OR NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
            RAISE EXCEPTION 'version and updated_at are set by the database: they follow changes to user_name, email and display_name'
                USING ERRCODE = 'check_violation', TABLE = 'users';
        END IF;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.user_name IS DISTINCT FROM OLD.user_name THEN
        IF char_length(NEW.user_name) NOT BETWEEN 3 AND 32 OR NEW.user_name ~ '[^A-Za-z0-9_.-]' THEN
            RAISE EXCEPTION 'user_name must be 3 to 32 characters of ASCII letters, digits, _ . -'
                USING ERRCODE = 'check_violation', TABLE = 'users', COLUMN = 'user_name';
        END IF;
        changed := true;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.email IS DISTINCT FROM OLD.email THEN
        IF char_length(NEW.email) > 254 THEN
            RAISE EXCEPTION 'email must be at most 254 characters'
                USING ERRCODE = 'check_violation', TABLE = 'users', COLUMN = 'email';
        END IF;
        -- Bounded repeats ({0,61}) make PostgreSQL's regex ten times slower
        -- (~19 us): label lengths are checked apart, and only when the
        -- domain is long enough to have a label of 64.
        IF NEW.email !~ ('^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*'
                         '@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$')
                OR NEW.email ~ '\.[0-9]+$'
                OR strpos(NEW.email, '@') > 65
                OR (char_length(NEW.email) - strpos(NEW.email, '@') >= 64 AND NEW.email ~ '[^.@]{64}') THEN
            RAISE EXCEPTION 'email must be an address such as name@example.com: ASCII, a local part of 1 to 64 letters, digits and !#$%%&''*+/=?^_`{|}~.- with no leading, trailing or double dot, then @ and at least two dot-separated labels of 1 to 63 letters, digits and inner hyphens, the last not all digits'
                USING ERRCODE = 'check_violation', TABLE = 'users', COLUMN = 'email';
        END IF;
        changed := true;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.display_name IS DISTINCT FROM OLD.display_name THEN
        IF char_length(NEW.display_name) > 100 THEN
            RAISE EXCEPTION 'display_name must be at most 100 characters'
                USING ERRCODE = 'check_violation', TABLE = 'users', COLUMN = 'display_name';
        END IF;
        -- Not one character outside char::is_whitespace and DisplayName's
        -- is_blank.
        IF NEW.display_name !~ ('[^\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000'
                                '\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e'
                                '\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\U0001d173-\U0001d17a'
                                '\U000e0000-\U000e0fff]') THEN
            RAISE EXCEPTION 'display_name must contain something visible (set it to NULL to clear it)'
                USING ERRCODE = 'check_violation', TABLE = 'users', COLUMN = 'display_name';
        END IF;
        -- One search for both kinds of control; which one, only when found.
        IF NEW.display_name ~ '[\u0001-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]' THEN
            IF NEW.display_name ~ '[\u0001-\u001f\u007f-\u009f]' THEN
                RAISE EXCEPTION 'display_name must not contain control characters'
                    USING ERRCODE = 'check_violation', TABLE = 'users', COLUMN = 'display_name';
            END IF;
            RAISE EXCEPTION 'display_name must not contain bidirectional control characters (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069)'
                USING ERRCODE = 'check_violation', TABLE = 'users', COLUMN = 'display_name';
        END IF;
        changed := true;
    END IF;
    IF TG_OP = 'UPDATE' AND changed THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now;
    END IF;
    -- Derived, never written: a value given for them is replaced. The C
    -- collation folds ASCII only, as the API does, whatever the database's
    -- locale.
    NEW.user_name_key := lower(NEW.user_name COLLATE "C");
    NEW.email_key := lower(NEW.email COLLATE "C");
    RETURN NEW;
END
$$;

-- One event per changed row, with the next id of the counter, in one
-- statement. AFTER, so that a row that ON CONFLICT DO NOTHING skips makes
-- none. The envelope is what serde writes for src/domain/event.rs's
-- Envelope: keys in that order, no spaces, strings through to_json (which
-- escapes as serde_json does), times in RFC 3339 UTC with six fractional
-- digits and Z.
CREATE OR REPLACE FUNCTION herald_users_append_event() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    -- The next id of the counter, which this statement's first trigger
    -- read (see herald_lock_event_counter).
    next_id bigint := current_setting('herald.last_event_id')::bigint + 1;
    event text;
    user_id uuid;
    at timestamptz;
    at_json text;
    fields text;
    user_json text := 'null';
BEGIN
    IF TG_OP = 'DELETE' THEN
        event := 'user_deleted';
        user_id := OLD.id;
        at := clock_timestamp();
        at_json := to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
        fields := '{}';
    ELSE
        event := CASE TG_OP WHEN 'INSERT' THEN 'user_created' ELSE 'user_updated' END;
        user_id := NEW.id;
        at := NEW.updated_at;
        at_json := to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
        -- Keys in alphabetical order (a serde_json map): on create every
        -- field set, on update the fields whose value changed.
        fields := '{' || substr(
               CASE WHEN TG_OP = 'INSERT' AND NEW.display_name IS NULL THEN ''
                    WHEN TG_OP = 'INSERT' OR NEW.display_name IS DISTINCT FROM OLD.display_name
                    THEN ',"display_name":' || coalesce(to_json(NEW.display_name)::text, 'null') ELSE '' END
            || CASE WHEN TG_OP = 'INSERT' OR NEW.email IS DISTINCT FROM OLD.email
                    THEN ',"email":' || to_json(NEW.email) ELSE '' END
            || CASE WHEN TG_OP = 'INSERT' OR NEW.user_name IS DISTINCT FROM OLD.user_name
                    THEN ',"user_name":' || to_json(NEW.user_name) ELSE '' END, 2) || '}';
        -- src/domain/user.rs's User, after the write.
        user_json := '{"id":"' || NEW.id
            || '","user_name":' || to_json(NEW.user_name)
            || ',"email":' || to_json(NEW.email)
            || ',"display_name":' || coalesce(to_json(NEW.display_name)::text, 'null')
            || ',"version":' || NEW.version
            || ',"created_at":"' || CASE WHEN NEW.created_at = at THEN at_json
                   ELSE to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
            || '","updated_at":"' || at_json || '"}';
    END IF;
    PERFORM set_config('herald.last_event_id', next_id::text, true);
    INSERT INTO events (id, topic, payload, created_at, sse_event)
    VALUES (next_id, 'users/' || user_id,
            '{"id":' || next_id || ',"event":"' || event || '","topic":"users/' || user_id
            || '","at":"' || at_json || '","data":{"user_id":"' || user_id
            || '","updated_fields":' || fields || ',"user":' || user_json || '}}',
            at, NULL);
    RETURN NULL;
END
$$;

-- Before a statement touches a row, it queues on the counter, as Herald's
-- batches do at BEGIN. Every writer then holds the counter before any row
-- lock or uncommitted unique key of users, so an outside writer cannot
-- deadlock with a batch, and `at` follows the id order. The same query asks
-- PostgreSQL to wake every instance (LISTEN herald_events) once the
-- transaction commits. The payload is constant: PostgreSQL folds identical
-- notifications of one transaction into one, and listeners read the log,
-- not the payload.
--
-- The statement's rows take their ids from a transaction-local setting
-- that starts at the counter, and the counter is written once, after the
-- statement: updating its row once per changed row would make each update
-- step past every version the transaction already made (a statement of
-- 20,000 rows took 2.6 s, growing with the square of its rows). A
-- subtransaction that rolls back takes its setting back with it.
CREATE OR REPLACE FUNCTION herald_lock_event_counter() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('herald_events', ''), set_config('herald.last_event_id', last_id::text, true)
    FROM event_counter WHERE id = 1 FOR NO KEY UPDATE;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION herald_advance_event_counter() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    newest bigint := current_setting('herald.last_event_id')::bigint;
BEGIN
    UPDATE event_counter SET last_id = newest WHERE id = 1 AND last_id <> newest;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION herald_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE users is refused: use DELETE FROM users, which makes a user_deleted event for each user'
        USING ERRCODE = 'feature_not_supported', TABLE = 'users';
END
$$;

CREATE OR REPLACE TRIGGER users_lock_event_counter
    BEFORE INSERT OR UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION herald_lock_event_counter();
-- After every row trigger of the statement.
CREATE OR REPLACE TRIGGER users_advance_event_counter
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION herald_advance_event_counter();
CREATE OR REPLACE TRIGGER users_before_write
    BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION herald_users_before_write();
CREATE OR REPLACE TRIGGER users_created
    AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION herald_users_append_event();
-- An UPDATE that changes no value makes no event.
CREATE OR REPLACE TRIGGER users_updated
    AFTER UPDATE ON users
    FOR EACH ROW
    WHEN (OLD.user_name IS DISTINCT FROM NEW.user_name OR OLD.email IS DISTINCT FROM NEW.email
          OR OLD.display_name IS DISTINCT FROM NEW.display_name)
    EXECUTE FUNCTION herald_users_append_event();
CREATE OR REPLACE TRIGGER users_deleted
    AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION herald_users_append_event();
CREATE OR REPLACE TRIGGER users_refuse_truncate
    BEFORE TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION herald_refuse_truncate();
