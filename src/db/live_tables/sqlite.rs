//! A live table's SQL on SQLite, made from its [`LiveTable`].
//!
//! SQLite has row triggers only, and one writer at a time: each change
//! appends its event at once with the counter's next id (the log's own
//! trigger advances the counter). Each trigger first checks that the table
//! still has the columns it was made for; the check reads the catalog only
//! when `PRAGMA schema_version` moved since the columns were last found
//! unchanged (`herald_watched_tables.schema_version`), so a write pays for
//! it once after a schema change, not on every row.

use super::description::{KeyKind, LiveTable};
use super::identifier::{Identifier, literal};
use super::shape::Column;

/// The triggers' names, one per statement kind.
fn trigger(table: &Identifier, kind: &str) -> String {
    format!("\"herald_watch_{table}_{kind}\"")
}

/// The row `r`'s key as text. A UUID stored as 16 bytes (as sea-orm and
/// Herald store them) is written in its usual form.
pub fn key_text(t: &LiveTable, r: &str) -> String {
    let k = format!("{r}.{}", t.key.quoted());
    match t.key_kind {
        KeyKind::Uuid => format!(
            "CASE WHEN typeof({k}) = 'blob' AND length({k}) = 16 THEN lower(substr(hex({k}), 1, 8) || '-' || \
             substr(hex({k}), 9, 4) || '-' || substr(hex({k}), 13, 4) || '-' || substr(hex({k}), 17, 4) || '-' || \
             substr(hex({k}), 21)) ELSE CAST({k} AS TEXT) END"
        ),
        KeyKind::Integer | KeyKind::Text => format!("CAST({k} AS TEXT)"),
    }
}

/// The `_XX` of each UTF-8 byte of one character, given as hex.
fn escaped_bytes(hex: &str) -> String {
    let mut pieces = vec![format!("'_' || substr({hex}, 1, 2)")];
    for at in [3, 5, 7] {
        pieces.push(format!(
            "CASE WHEN length({hex}) > {} THEN '_' || substr({hex}, {at}, 2) ELSE '' END",
            at - 1
        ));
    }
    pieces.join(" || ")
}

/// `value` (text, or NULL) as one topic segment (see
/// `domain::topic_segment`). Most values need no encoding, which is
/// checked first; the rest go character by character (SQLite has no
/// functions of ours: the characters are numbered by `json_each` over an
/// array as long as the value).
fn segment(value: &str) -> String {
    format!(
        "CASE WHEN {value} IS NULL THEN '_null' WHEN {value} = '' THEN '_' \
         WHEN {value} NOT GLOB '*[^-.:0-9A-Za-z]*' THEN {value} \
         ELSE (SELECT group_concat(CASE WHEN c GLOB '[-.:0-9A-Za-z]' THEN c ELSE {escaped} END, '') \
         FROM (SELECT substr({value}, j.key + 1, 1) AS c FROM json_each('[' || \
         substr(replace(hex(zeroblob(length({value}))), '00', ',0'), 2) || ']') AS j)) END",
        escaped = escaped_bytes("hex(c)")
    )
}

/// The topic of the row `r`.
pub fn topic(t: &LiveTable, r: &str) -> String {
    let key = match t.key_kind {
        // Written with letters, digits and `-` only.
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
    Some(format!("CAST({r}.{} AS TEXT)", scope.quoted()))
}

/// One column's value as `json_object` takes it: a BLOB (which it refuses)
/// as `\x` and its hex digits, as PostgreSQL writes a bytea.
fn value(c: &Column, r: &str) -> String {
    let v = format!("{r}.\"{}\"", c.name);
    format!("CASE WHEN typeof({v}) = 'blob' THEN '\\x' || lower(hex({v})) ELSE {v} END")
}

/// The arguments of `json_object` for the visible columns of `r`.
fn fields(t: &LiveTable, r: &str) -> String {
    t.visible()
        .map(|c| format!("'{}', {}", c.name, value(c, r)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The row `r` as a JSON object of its visible columns, in the table's
/// order.
pub fn row_json(t: &LiveTable, r: &str) -> String {
    format!("json_object({})", fields(t, r))
}

/// `json_object` of every visible column of `r`, less those whose
/// `leave_out` condition holds (`{c}` stands for the column).
fn fields_but(t: &LiveTable, r: &str, leave_out: &str) -> String {
    let removals: Vec<String> = t
        .visible()
        .map(|c| {
            let condition = leave_out.replace("{c}", &c.name);
            format!("CASE WHEN {condition} THEN '$.{}' ELSE '$.-' END", c.name)
        })
        .collect();
    if removals.is_empty() {
        return "json_object()".to_owned();
    }
    format!("json_remove({}, {})", row_json(t, r), removals.join(", "))
}

fn data(t: &LiveTable, key: &str, updated_fields: &str, row: &str) -> String {
    format!(
        "json_object('table', {}, 'key', {key}, 'updated_fields', {updated_fields}, 'row', {row})",
        literal(t.table.as_str())
    )
}

/// Appends one event with the counter's next id, when `when` holds.
fn append(event: &str, topic: &str, data: &str, when: &str) -> String {
    format!(
        "INSERT INTO events (id, topic, payload, created_at, sse_event)
    SELECT c.last_id + 1, {topic},
           json_object('id', c.last_id + 1, 'event', '{event}', 'topic', {topic},
               'at', strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'), 'data', {data}),
           strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'), NULL
    FROM event_counter AS c WHERE c.id = 1{when};"
    )
}

/// The first statement of every trigger: refuses the write if the table's
/// columns are no longer those the triggers were made for.
fn guard(t: &LiveTable) -> String {
    let name = t.table.as_str();
    format!(
        "SELECT RAISE(ABORT, {message})
    WHERE (SELECT schema_version FROM pragma_schema_version)
            IS NOT (SELECT schema_version FROM herald_watched_tables WHERE table_name = {name_literal})
        AND (SELECT group_concat(name || ' ' || type, ', ') FROM pragma_table_info({name_literal}))
            IS NOT {signature};",
        message = literal(&format!(
            "{name} has changed (its name or its columns) since herald watch made its triggers: run `herald watch {name}` again"
        )),
        name_literal = literal(name),
        signature = literal(&t.signature()),
    )
}

/// The statements that make `t` live, or make it so again; one
/// transaction.
pub fn install(t: &LiveTable) -> Vec<String> {
    let table = t.table.quoted();
    let guard = guard(t);
    let key_new = key_text(t, "NEW");
    let key_old = key_text(t, "OLD");
    let (topic_new, topic_old) = (topic(t, "NEW"), topic(t, "OLD"));
    let created = data(
        t,
        &key_new,
        &fields_but(t, "NEW", "NEW.\"{c}\" IS NULL"),
        &row_json(t, "NEW"),
    );
    let deleted = data(t, &key_old, "json_object()", "NULL");
    let updated = data(
        t,
        &key_new,
        &fields_but(t, "NEW", "NEW.\"{c}\" IS OLD.\"{c}\""),
        &row_json(t, "NEW"),
    );
    let mut same = format!("NEW.{k} IS OLD.{k}", k = t.key.quoted());
    if let Some(scope) = &t.scope {
        same.push_str(&format!(" AND NEW.{s} IS OLD.{s}", s = scope.quoted()));
    }
    let changed: Vec<String> = t
        .visible()
        .map(|c| format!("NEW.\"{n}\" IS NOT OLD.\"{n}\"", n = c.name))
        .collect();
    let changed = if changed.is_empty() {
        "0".to_owned()
    } else {
        changed.join(" OR ")
    };
    let mut statements = uninstall(&t.table);
    statements.push(format!(
        "CREATE TRIGGER {} AFTER INSERT ON {table}\nBEGIN\n    {guard}\n    {}\nEND",
        trigger(&t.table, "insert"),
        append("row_created", &topic_new, &created, "")
    ));
    statements.push(format!(
        "CREATE TRIGGER {} AFTER UPDATE ON {table}\nBEGIN\n    {guard}\n    {}\n    {}\n    {}\nEND",
        trigger(&t.table, "update"),
        append(
            "row_updated",
            &topic_new,
            &updated,
            &format!(" AND {same} AND ({changed})")
        ),
        // A row whose topic changes (its scope, or its key) leaves its old
        // topic, then comes to its new one.
        append("row_deleted", &topic_old, &deleted, &format!(" AND NOT ({same})")),
        append("row_created", &topic_new, &created, &format!(" AND NOT ({same})")),
    ));
    statements.push(format!(
        "CREATE TRIGGER {} AFTER DELETE ON {table}\nBEGIN\n    {guard}\n    {}\nEND",
        trigger(&t.table, "delete"),
        append("row_deleted", &topic_old, &deleted, "")
    ));
    statements
}

/// The statements that stop `table` being live; its events stay in the
/// log.
pub fn uninstall(table: &Identifier) -> Vec<String> {
    ["insert", "update", "delete"]
        .iter()
        .map(|kind| format!("DROP TRIGGER IF EXISTS {}", trigger(table, kind)))
        .collect()
}

/// How many of the triggers `install` made are on `table`.
pub fn installed_query() -> &'static str {
    "SELECT count(*) AS installed FROM sqlite_schema \
     WHERE type = 'trigger' AND tbl_name = ? AND name LIKE 'herald\\_watch\\_%' ESCAPE '\\'"
}
