"""Writes each X.sqlite.sql from its template X.sqlite.sql.in beside this file
(into the folder argv[1] instead, when given).

SQLite has no functions of our own and no variables in triggers, so the
expressions below are spelled out where they are used; this script keeps
their one definition.
"""
import os
import re
import sys

def blob(bs):
    return "x'" + "".join(f"{b:02X}" for b in bs) + "'"

T = blob(range(256))
MS = "CAST((julianday('now') - 2440587.5) * 86400000.0 + 0.5 AS INTEGER)"
UUID_V7 = ("CAST(\n        "
           + "\n        || ".join(f"substr({T}, (({MS} >> {s}) & 255) + 1, 1)" for s in (40, 32, 24, 16, 8, 0))
           + f"\n        || substr({blob(range(0x70, 0x80))}, (random() & 15) + 1, 1) || randomblob(1)"
           + f"\n        || substr({blob(range(0x80, 0xC0))}, (random() & 63) + 1, 1) || randomblob(7)\n    AS BLOB)")
NOW_TEXT = "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')"
NOW_JSON = "strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')"

def uuid_text(x):
    """The id's text as Rust's Uuid writes it; a subquery, so that the
    statement using it computes it once. SQLite functions cost about a
    microsecond a call: as few as will do."""
    return (f"(SELECT printf('%.8s-%.4s-%.4s-%.4s-%s', h, substr(h, 9), substr(h, 13), substr(h, 17),"
            f" substr(h, 21)) FROM (SELECT lower(hex({x})) AS h))")

def json_time(ts):
    # Stored times are RFC 3339 with +00:00 and 0, 3 or 6 fractional digits
    # (older rows: chrono's AutoSi); JSON has exactly six and Z.
    return (f"CASE WHEN length({ts}) = 32 THEN substr({ts}, 1, 26) || 'Z'"
            f" ELSE strftime('%Y-%m-%dT%H:%M:%S', {ts}) || '.' || substr(CASE WHEN substr({ts}, 20, 1) = '.'"
            f" THEN substr({ts}, 21, length({ts}) - 26) ELSE '' END || '000000', 1, 6) || 'Z' END")

def user_json(version, updated_at_json):
    """src/domain/user.rs's User after the write; u.id is the id's text."""
    return ("json_object('id', u.id, 'user_name', NEW.user_name, 'email', NEW.email,"
            " 'display_name', NEW.display_name,\n                       'version', " + version
            + ", 'created_at', " + json_time("NEW.created_at")
            + ",\n                       'updated_at', " + updated_at_json + ")")

def bad_user_name(x):
    return (f"(typeof({x}) <> 'text' OR length({x}) NOT BETWEEN 3 AND 32"
            f" OR length(CAST({x} AS BLOB)) <> length({x}) OR {x} GLOB '*[^-.0-9A-Z_a-z]*')")

def long_email(x):
    return f"(typeof({x}) = 'text' AND length({x}) > 254)"

def bad_email(args):
    """x: the address; domain: what follows its first @, computed once
    (EMAIL_DOMAIN): each substr() would be a copy, copied again by every
    function given it to end it with a NUL."""
    x, domain = args.split(",")
    return ("(" + "\n                OR ".join([
        f"typeof({x}) <> 'text' OR length(CAST({x} AS BLOB)) <> length({x})",
        # ! # $ % & ' * + - . / 0-9 = ? @ A-Z ^ _ ` a-z { | } ~, in ranges.
        f"{x} GLOB '*[^!#-''*-+--9=?-Z^-~]*'",
        f"instr({x}, '@') NOT BETWEEN 2 AND 65 OR instr({domain}, '@') > 0",
        f"substr({x}, 1, 1) = '.' OR instr({x}, '.@') > 0 OR instr({x}, '..') > 0",
        f"substr({domain}, 1, 1) IN ('.', '-') OR substr({x}, -1) IN ('.', '-')",
        f"instr({domain}, '.') = 0 OR instr({domain}, '-.') > 0 OR instr({domain}, '.-') > 0",
        f"{domain} GLOB '*[^-.0-9A-Za-z]*'",
        f"(length({domain}) > 63 AND '.' || {domain} GLOB '*.{'[^.]' * 64}*')",
        f"substr(rtrim({x}, '0123456789'), -1) = '.'",
    ]) + ")")

def chars(*cps):
    return "char(" + ", ".join(f"0x{c:X}" for c in cps) + ")"

def char_class(items):
    """A GLOB class body as an SQL expression: code points and (from, to) ranges."""
    parts = []
    for it in items:
        if isinstance(it, tuple):
            parts.append(f"{chars(it[0])} || '-' || {chars(it[1])}")
        else:
            parts.append(chars(it))
    return " || ".join(parts)

# char::is_whitespace (Unicode White_Space) and DisplayName's is_blank list.
BLANK = [(0x9, 0xD), 0x20, 0x85, 0xA0, 0x1680, (0x2000, 0x200A), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
         0xAD, 0x34F, 0x115F, 0x1160, 0x17B4, 0x17B5, (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
         (0x2060, 0x206F), 0x2800, 0x3164, (0xFE00, 0xFE0F), 0xFEFF, 0xFFA0, (0x1D173, 0x1D17A),
         (0xE0000, 0xE0FFF)]
CONTROL = [(0x1, 0x1F), (0x7F, 0x9F)]  # NUL is found by its byte: GLOB stops at it
BIDI = [(0x202A, 0x202E), (0x2066, 0x2069), 0x200E, 0x200F, 0x61C]

def display_name_rules(d):
    # r: the row of users_display_name_patterns, joined LEFT so that a lost
    # row stops writes instead of passing them unchecked.
    return f"""WHEN {d} IS NOT NULL AND r.id IS NULL THEN RAISE(ABORT,
            'users_display_name_patterns has lost its row: run the migration again')
        WHEN {d} IS NOT NULL AND typeof({d}) <> 'text' THEN RAISE(ABORT,
            'display_name must be text or NULL')
        WHEN length({d}) > 100 THEN RAISE(ABORT,
            'display_name must be at most 100 characters')
        WHEN {d} NOT GLOB r.has_visible THEN RAISE(ABORT,
            'display_name must contain something visible (set it to NULL to clear it)')
        WHEN instr(CAST({d} AS BLOB), x'00') > 0 OR {d} GLOB r.has_control THEN RAISE(ABORT,
            'display_name must not contain control characters')
        WHEN {d} GLOB r.has_bidi THEN RAISE(ABORT,
            'display_name must not contain bidirectional control characters (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069)')"""

EMAIL_MESSAGE = ("'email must be an address such as name@example.com: ASCII, a local part of 1 to 64 letters,"
                 " digits and !#$%&''*+/=?^_`{|}~.- with no leading, trailing or double dot, then @ and at least"
                 " two dot-separated labels of 1 to 63 letters, digits and inner hyphens, the last not all digits'")

REPLACE_MESSAGE = ("'REPLACE would delete users without a user_deleted event: "
                   "DELETE them first, or use INSERT ... ON CONFLICT DO UPDATE or DO NOTHING'")

plain = {
    "INSERT_CONFLICT": "EXISTS (SELECT 1 FROM users WHERE id = NEW.id OR user_name_key = lower(NEW.user_name)"
                       " OR email_key = lower(NEW.email))",
    "RENAME_CONFLICT": "((NEW.user_name IS NOT OLD.user_name OR NEW.email IS NOT OLD.email) AND EXISTS ("
                       "SELECT 1 FROM users WHERE (user_name_key = lower(NEW.user_name) OR email_key = lower(NEW.email))"
                       " AND id IS NOT OLD.id))",
    "EMAIL_MESSAGE": EMAIL_MESSAGE,
    "EMAIL_DOMAIN": "(SELECT substr(NEW.email, instr(NEW.email, '@') + 1) AS domain LIMIT 1)",
    "HAS_VISIBLE": "'*[^' || " + char_class(BLANK) + " || ']*'",
    "HAS_CONTROL": "'*[' || " + char_class(CONTROL) + " || ']*'",
    "HAS_BIDI": "'*[' || " + char_class(BIDI) + " || ']*'",
    "UUID_V7": UUID_V7,
    "NOW_TEXT": NOW_TEXT,
    "NOW_JSON": NOW_JSON,
    "USER_JSON_CREATED": user_json("NEW.version", json_time("NEW.updated_at")),
    "USER_JSON_UPDATED": user_json("OLD.version + 1", NOW_JSON),
    "REFUSE_REPLACE": f"SELECT RAISE(ABORT, {REPLACE_MESSAGE})\n        FROM users_replace_check WHERE id = 1 AND user_id = NEW.id;",
    "REFUSE_REPLACE_ON_RENAME": f"SELECT RAISE(ABORT, {REPLACE_MESSAGE})\n        FROM users_replace_check WHERE id = 1 AND user_id = NEW.id\n            AND (NEW.user_name IS NOT OLD.user_name OR NEW.email IS NOT OLD.email);",
}
with_arg = {
    "UUID_TEXT": uuid_text,
    "JSON_TIME": json_time,
    "BAD_USER_NAME": bad_user_name,
    "LONG_EMAIL": long_email,
    "BAD_EMAIL": bad_email,
    "DISPLAY_NAME_RULES": display_name_rules,
}

here = os.path.dirname(os.path.abspath(__file__))
out = sys.argv[1] if len(sys.argv) > 1 else here
for template in sorted(f for f in os.listdir(here) if f.endswith(".sqlite.sql.in")):
    src = open(os.path.join(here, template)).read()
    src = re.sub(r"@([A-Z_0-9]+):([^@\n]+)@", lambda m: with_arg[m.group(1)](m.group(2)), src)
    src = re.sub(r"@([A-Z_0-9]+)@", lambda m: plain[m.group(1)], src)
    for m in re.finditer(r"@[A-Z_]+[@:]", src): raise SystemExit(template + ": unexpanded " + m.group(0))
    header = f"-- Generated by make_sqlite.py from {template}: edit those.\n"
    open(os.path.join(out, template[:-len(".in")]), "w").write(header + src)
