//! A live table's SQL on PostgreSQL, made from its [`LiveTable`].
//!
//! One statement-level trigger function per table, fired after each
//! `INSERT`, `UPDATE` and `DELETE` with the statement's rows in transition
//! tables: it stages one event per changed row, in the order the statement
//! changed them (see `herald_staged_events` in `migrations/sql/`), so the
//! event counter is taken at `COMMIT`. Per-statement, set-based SQL costs a
//! fraction of a row trigger's per-row call. Before anything, it checks that
//! the table still has the columns (and the name) it was made for: a column
//! added later would otherwise be missing from every event.

use super::description::{KeyKind, LiveTable};
use super::identifier::{Identifier, literal};
use super::shape::Column;

/// The trigger function's name.
fn function(table: &Identifier) -> String {
    format!("\"herald_watch_{table}\"")
}

/// The triggers on a live table: name, when it fires, what it sees.
const TRIGGERS: [(&str, &str, &str); 4] = [
    (
        "herald_watch_insert",
        "AFTER INSERT",
        "REFERENCING NEW TABLE AS herald_new",
    ),
    (
        "herald_watch_update",
        "AFTER UPDATE",
        "REFERENCING OLD TABLE AS herald_old NEW TABLE AS herald_new",
    ),
    (
        "herald_watch_delete",
        "AFTER DELETE",
        "REFERENCING OLD TABLE AS herald_old",
    ),
    ("herald_watch_truncate", "BEFORE TRUNCATE", ""),
];

/// The row `r`'s key as text.
pub fn key_text(t: &LiveTable, r: &str) -> String {
    format!("{r}.{}::text", t.key.quoted())
}

/// `value` (text) as one topic segment: as it is when it needs no
/// encoding, which is checked inline (most values need none).
fn segment(value: &str) -> String {
    format!(
        "CASE WHEN {value} ~ '^[A-Za-z0-9.:-]+$' THEN {value} ELSE herald_topic_segment({value}) END"
    )
}

/// The topic of the row `r`: `<table>/<key>` or `<table>/<scope>/<key>`.
pub fn topic(t: &LiveTable, r: &str) -> String {
    // Integers and UUIDs are written with letters, digits and `-` only.
    let key = match t.key_kind {
        KeyKind::Integer | KeyKind::Uuid => key_text(t, r),
        KeyKind::Text => segment(&key_text(t, r)),
    };
    match scope_text(t, r) {
        Some(scope) => format!(
            "{} || ({}) || '/' || ({key})",
            literal(&format!("{}/", t.table)),
            segment(&scope)
        ),
        None => format!("{} || ({key})", literal(&format!("{}/", t.table))),
    }
}

/// The row `r`'s scope as text, as its topic has it; `None` unscoped.
pub fn scope_text(t: &LiveTable, r: &str) -> Option<String> {
    let scope = t.scope.as_ref()?;
    Some(format!("{r}.{}::text", scope.quoted()))
}

/// `"name":<value as JSON>` of one column of `r`.
fn field(c: &Column, r: &str) -> String {
    format!(
        "'\"{}\":' || coalesce(to_json({r}.\"{}\")::text, 'null')",
        c.name, c.name
    )
}

/// The row `r` as a JSON object of its visible columns, in the table's
/// order, each value as `to_json` renders it.
pub fn row_json(t: &LiveTable, r: &str) -> String {
    let fields: Vec<String> = t.visible().map(|c| field(c, r)).collect();
    format!("'{{' || {} || '}}'", fields.join(" || ',' || "))
}

/// Whether a column's value differs between `n` and `o`. Types without an
/// equality operator (`json`, `xml`, the geometric ones) compare as text.
fn changed(c: &Column, n: &str, o: &str) -> String {
    let base = c
        .sql_type
        .split(['(', '['])
        .next()
        .unwrap_or_default()
        .trim();
    let by_text = [
        "json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle",
    ]
    .contains(&base);
    let cast = if by_text { "::text" } else { "" };
    format!(
        "{n}.\"{name}\"{cast} IS DISTINCT FROM {o}.\"{name}\"{cast}",
        name = c.name
    )
}

/// The `data` of a row event: `{"table", "key", "updated_fields", "row"}`.
fn data(t: &LiveTable, key: &str, updated_fields: &str, row: &str) -> String {
    format!(
        "'{{\"table\":\"{}\",\"key\":' || to_json({key}) || ',\"updated_fields\":' || {updated_fields} || ',\"row\":' || {row} || '}}'",
        t.table
    )
}

/// On create: every visible column that is not NULL.
fn created(t: &LiveTable, n: &str) -> String {
    let fields: Vec<String> = t
        .visible()
        .map(|c| {
            format!(
                "CASE WHEN {n}.\"{}\" IS NOT NULL THEN {} END",
                c.name,
                field(c, n)
            )
        })
        .collect();
    let updated_fields = format!("'{{' || concat_ws(',', {}) || '}}'", fields.join(", "));
    data(t, &key_text(t, n), &updated_fields, &row_json(t, n))
}

/// On update: the visible columns whose value changed, with their new one.
fn updated(t: &LiveTable, n: &str, o: &str) -> String {
    let fields: Vec<String> = t
        .visible()
        .map(|c| format!("CASE WHEN {} THEN {} END", changed(c, n, o), field(c, n)))
        .collect();
    let updated_fields = format!("'{{' || concat_ws(',', {}) || '}}'", fields.join(", "));
    data(t, &key_text(t, n), &updated_fields, &row_json(t, n))
}

fn deleted(t: &LiveTable, o: &str) -> String {
    data(t, &key_text(t, o), "'{}'", "'null'")
}

/// Whether `n` and `o` are on the same topic (same key, same scope).
fn same_topic(t: &LiveTable, n: &str, o: &str) -> String {
    let key = format!(
        "{n}.{key} IS NOT DISTINCT FROM {o}.{key}",
        key = t.key.quoted()
    );
    match &t.scope {
        Some(scope) => format!(
            "{key} AND {n}.{scope} IS NOT DISTINCT FROM {o}.{scope}",
            scope = scope.quoted()
        ),
        None => key,
    }
}

/// Stages `events` (a query of `topic, event, data`, in order): the first
/// row queues the flush at commit, once per transaction.
fn stage(events: &str) -> String {
    format!(
        "INSERT INTO herald_staged_events (topic, event, data, at, flush)
        SELECT e.topic, e.event, e.data, clock_timestamp(),
               CASE WHEN e.position = 1 THEN herald_flush_due() ELSE false END
        FROM (SELECT row_number() OVER () AS position, * FROM ({events}) AS e) AS e
        ORDER BY e.position;"
    )
}

/// The statements that make `t` live, or make it so again with other
/// options or columns; one transaction.
pub fn install(t: &LiveTable) -> Vec<String> {
    let table = t.table.quoted();
    let name = t.table.as_str();
    let visible_changed: Vec<String> = t.visible().map(|c| changed(c, "n", "o")).collect();
    let inserted = stage(&format!(
        "SELECT {} AS topic, 'row_created' AS event, {} AS data FROM herald_new AS n",
        topic(t, "n"),
        created(t, "n")
    ));
    let deleted_rows = stage(&format!(
        "SELECT {} AS topic, 'row_deleted' AS event, {} AS data FROM herald_old AS o",
        topic(t, "o"),
        deleted(t, "o")
    ));
    // A statement's old and new rows stand in the same order in their
    // transition tables, one pair per updated row. A row whose topic
    // changes (its scope, or its key) leaves its old topic, then comes to
    // its new one.
    let updated_rows = stage(&format!(
        "SELECT e.topic, e.event, e.data
         FROM (SELECT row_number() OVER () AS herald_position, * FROM herald_new) AS n
         JOIN (SELECT row_number() OVER () AS herald_position, * FROM herald_old) AS o
             USING (herald_position)
         CROSS JOIN LATERAL (
             SELECT 0 AS step, {topic_n} AS topic, 'row_updated' AS event, {updated} AS data
             WHERE {same} AND ({visible_changed})
             UNION ALL
             SELECT 0, {topic_o}, 'row_deleted', {deleted} WHERE NOT ({same})
             UNION ALL
             SELECT 1, {topic_n}, 'row_created', {created} WHERE NOT ({same})
         ) AS e
         ORDER BY n.herald_position, e.step",
        topic_n = topic(t, "n"),
        topic_o = topic(t, "o"),
        updated = updated(t, "n", "o"),
        deleted = deleted(t, "o"),
        created = created(t, "n"),
        same = same_topic(t, "n", "o"),
        visible_changed = if visible_changed.is_empty() {
            "false".to_owned()
        } else {
            visible_changed.join(" OR ")
        },
    ));
    let body = format!(
        "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger
LANGUAGE plpgsql
AS $herald$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION {truncate}
            USING ERRCODE = 'feature_not_supported', TABLE = TG_TABLE_NAME;
    END IF;
    IF TG_TABLE_NAME <> {name_literal} OR (
            SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
            FROM pg_attribute WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped
        ) IS DISTINCT FROM {signature} THEN
        RAISE EXCEPTION {changed}
            USING ERRCODE = 'object_not_in_prerequisite_state', TABLE = TG_TABLE_NAME;
    END IF;
    IF TG_OP = 'INSERT' THEN
        {inserted}
    ELSIF TG_OP = 'DELETE' THEN
        {deleted_rows}
    ELSE
        {updated_rows}
    END IF;
    RETURN NULL;
END
$herald$",
        function = function(&t.table),
        truncate = literal(&format!(
            "TRUNCATE {name} is refused: {name} is watched, and DELETE FROM {name} makes a row_deleted event for each row"
        )),
        name_literal = literal(name),
        signature = literal(&t.signature()),
        changed = literal(&format!(
            "{name} has changed (its name or its columns) since herald watch made its triggers: run `herald watch {name}` again"
        )),
    );
    let mut statements = vec![body];
    for (trigger, when, referencing) in TRIGGERS {
        statements.push(format!(
            "CREATE OR REPLACE TRIGGER {trigger} {when} ON {table} {referencing} \
             FOR EACH STATEMENT EXECUTE FUNCTION {}()",
            function(&t.table)
        ));
    }
    statements
}

/// The statements that stop `table` being live; its events stay in the
/// log. Nothing fails if its table is gone already.
pub fn uninstall(table: &Identifier) -> Vec<String> {
    let quoted = table.quoted();
    let mut statements: Vec<String> = TRIGGERS
        .iter()
        .map(|(trigger, _, _)| {
        format!(
            "DO $herald$ BEGIN IF to_regclass({}) IS NOT NULL THEN DROP TRIGGER IF EXISTS {trigger} ON {quoted}; END IF; END $herald$",
            literal(&quoted)
        )
    })
    .collect();
    statements.push(format!("DROP FUNCTION IF EXISTS {}()", function(table)));
    statements
}

/// Whether the triggers `install` made are on `table`.
pub fn installed_query() -> &'static str {
    "SELECT count(*) AS installed FROM pg_trigger \
     WHERE tgrelid = to_regclass(quote_ident($1)) AND tgname LIKE 'herald\\_watch\\_%' AND NOT tgisinternal"
}
