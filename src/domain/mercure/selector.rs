//! A Mercure topic selector: `*`, a topic as it is, or an RFC 6570 URI
//! template that selects every topic it can expand to
//! (`https://example.com/books/{id}`). Matched as the reference hub matches
//! them, quirks included (prefix lengths are not enforced, `,` passes in a
//! simple variable), since clients' selectors were written against it:
//!
//! 1. `*` alone matches every topic (elsewhere `*` is a plain character);
//! 2. a selector matches the topic equal to it, byte for byte;
//! 3. a selector without `{` matches nothing else;
//! 4. one that parses as a template matches the topics its regular
//!    expression matches whole; one that does not parse, nothing else.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;

use crate::lock::lock;

/// The longest selector Herald keeps, in bytes.
pub const MAX_LEN: usize = 1024;

#[derive(Debug, Clone)]
pub enum Selector {
    All,
    /// A topic as it is (or a string that is not a template).
    Exact(String),
    /// Shared by every selector of the same template (see [`compiled`]).
    Template(Arc<Template>),
}

/// A URI template and its compiled expression.
#[derive(Debug)]
pub struct Template {
    raw: String,
    regex: Regex,
}

impl Template {
    /// Whether the template selects `topic` (or is it).
    pub fn matches(&self, topic: &str) -> bool {
        self.raw == topic || self.regex.is_match(topic)
    }
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Selector {}

impl Selector {
    pub fn parse(raw: &str) -> Self {
        if raw == "*" {
            return Self::All;
        }
        match raw.contains('{').then(|| compiled(raw)).flatten() {
            Some(template) => Self::Template(template),
            _ => Self::Exact(raw.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::All => "*",
            Self::Exact(raw) => raw,
            Self::Template(template) => &template.raw,
        }
    }

    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Self::All => true,
            Self::Exact(raw) => raw == topic,
            Self::Template(template) => template.matches(topic),
        }
    }
}

/// Characters a template's expression may hold, as regex class contents.
const UNRESERVED: &str = r"\x2d\x2e\x30-\x39\x41-\x5a\x5f\x61-\x7a\x7e";
const RESERVED: &str = r"\x21\x23\x24\x26-\x2c\x2f\x3a\x3b\x3d\x3f\x40\x5b\x5d";

/// What an expression's operator writes: before its first value, between
/// values, whether values are named (`name=value`), and whether reserved
/// characters pass.
struct Operator {
    first: &'static str,
    separator: &'static str,
    named: bool,
    reserved: bool,
}

fn operator(symbol: Option<char>) -> Option<Operator> {
    let (first, separator, named, reserved) = match symbol {
        None => ("", ",", false, false),
        Some('+') => ("", ",", false, true),
        Some('#') => ("#", ",", false, true),
        Some('.') => (".", ".", false, false),
        Some('/') => ("/", "/", false, false),
        Some(';') => (";", ";", true, false),
        Some('?') => ("?", "&", true, false),
        Some('&') => ("&", "&", true, false),
        _ => return None,
    };
    Some(Operator {
        first,
        separator,
        named,
        reserved,
    })
}

/// One value's pattern: its characters, or `%` and two hex digits.
fn value(operator: &Operator, named: bool) -> String {
    let mut class = String::new();
    if !operator.reserved {
        class.push_str(r"\x2c");
        if named {
            class.push_str(r"\x3d");
        }
    }
    class.push_str(UNRESERVED);
    if operator.reserved {
        class.push_str(RESERVED);
    }
    format!("(?:(?:[{class}]|%[0-9A-Fa-f][0-9A-Fa-f])*)")
}

fn is_hex(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_hexdigit())
}

/// Characters a template's literal part may hold (RFC 6570 §2.1).
fn is_literal(c: char) -> bool {
    let c = u32::from(c);
    matches!(c, 0x21 | 0x23..=0x24 | 0x26..=0x3b | 0x3d | 0x3f..=0x5b | 0x5d | 0x5f | 0x61..=0x7a | 0x7e
        | 0xa0..=0xd7ff | 0xe000..=0xfdcf | 0xfdf0..=0xffef | 0xf0000..=0x10fffd)
        || ((0x10000..=0xefffd).contains(&c)
            && (c & 0xffff) <= 0xfffd
            && !(0xe0000..0xe1000).contains(&c))
}

/// A variable name: `[A-Za-z0-9_]` or `%XX`, dot-separated, none empty.
fn is_variable_name(name: &str) -> bool {
    if name.is_empty() || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return false;
    }
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        let fine = match c {
            '%' => is_hex(chars.next()) && is_hex(chars.next()),
            '.' | '_' => true,
            c => c.is_ascii_alphanumeric(),
        };
        if !fine {
            return false;
        }
    }
    true
}

/// One `{…}`'s pattern, or `None` if it is not a valid expression.
fn expression(body: &str) -> Option<String> {
    let mut chars = body.chars();
    let symbol = match body.chars().next()? {
        c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&') => {
            chars.next();
            Some(c)
        }
        '=' | ',' | '!' | '@' | '|' => return None,
        _ => None,
    };
    let operator = operator(symbol)?;
    let mut variables = Vec::new();
    for spec in chars.as_str().split(',') {
        let (spec, explode) = match spec.strip_suffix('*') {
            Some(spec) => (spec, true),
            None => (spec, false),
        };
        let name = match spec.split_once(':') {
            Some((name, prefix)) => {
                let fine = !explode
                    && !prefix.starts_with('0')
                    && prefix.parse::<u16>().is_ok_and(|n| (1..=9999).contains(&n));
                if !fine {
                    return None;
                }
                name
            }
            None => spec,
        };
        if !is_variable_name(name) {
            return None;
        }
        variables.push(explode);
    }
    let exploded = variables.iter().any(|e| *e);
    let mut pattern = String::new();
    if !operator.first.is_empty() {
        pattern.push_str(&format!("(?:{}", regex::escape(operator.first)));
    }
    pattern.push('(');
    pattern.push_str(&value(&operator, operator.named || variables[0]));
    if variables.len() > 1 || variables[0] {
        let more = if exploded {
            "*".to_owned()
        } else {
            format!("{{0,{}}}", variables.len() - 1)
        };
        pattern.push_str(&format!(
            "(?:{}{}){more}",
            regex::escape(operator.separator),
            value(&operator, operator.named || exploded)
        ));
    }
    pattern.push(')');
    if !operator.first.is_empty() {
        pattern.push(')');
    }
    pattern.push('?');
    Some(pattern)
}

/// Distinct templates whose compiled expressions are kept at most; past
/// it the cache starts over (a client cycling through templates costs
/// compiling them, never memory).
const CACHED_TEMPLATES: usize = 1024;

/// Template `raw`, compiled, or `None` if it is not one.
///
/// Thousands of subscribers name the same few templates: they share one
/// compiled template (a `Regex` of its own would cost each about 13 KiB),
/// and an update works out each template's answer once for all of them
/// (see [`SharedUpdate`](super::SharedUpdate)).
fn compiled(raw: &str) -> Option<Arc<Template>> {
    type Cache = HashMap<String, Option<Arc<Template>>>;
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);
    if let Some(known) = lock(&CACHE).get(raw) {
        return known.clone();
    }
    let template = template_regex(raw)
        .and_then(|pattern| Regex::new(&pattern).ok())
        .map(|regex| {
            Arc::new(Template {
                raw: raw.to_owned(),
                regex,
            })
        });
    let mut cache = lock(&CACHE);
    if cache.len() >= CACHED_TEMPLATES {
        cache.clear();
    }
    cache.insert(raw.to_owned(), template.clone());
    template
}

/// The anchored regular expression of a template, or `None` if `raw` is not
/// one.
fn template_regex(raw: &str) -> Option<String> {
    if raw.len() > MAX_LEN {
        return None;
    }
    let mut pattern = String::from("^");
    let mut rest = raw;
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix('{') {
            let (inside, after) = body.split_once('}')?;
            pattern.push_str(&expression(inside)?);
            rest = after;
            continue;
        }
        let end = rest.find('{').unwrap_or(rest.len());
        let literal = &rest[..end];
        let mut chars = literal.chars();
        while let Some(c) = chars.next() {
            let fine = match c {
                '%' => is_hex(chars.next()) && is_hex(chars.next()),
                c => is_literal(c),
            };
            if !fine {
                return None;
            }
        }
        pattern.push_str(&format!("(?:{})", regex::escape(literal)));
        rest = &rest[end..];
    }
    pattern.push_str(r"\z");
    Some(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_as_the_reference_hub_matches() {
        let books = "https://example.com/books/{id}";
        for (selector, topic, expected) in [
            ("*", "anything at all", true),
            ("foo", "foo", true),
            ("foo", "Foo", false),
            (books, "https://example.com/books/1", true),
            (books, "https://example.com/books/", true),
            (books, "https://example.com/books", false),
            (books, "https://example.com/books/1/2", false),
            (books, "https://example.com/books/a%2Fb", true),
            (books, "https://example.com/books/a,b", true),
            (books, "https://example.com/books/a b", false),
            (books, "https://example.com/books/caf\u{e9}", false),
            (books, "https://example.com/books/1?x=y", false),
            (books, "https://example.com/books/1\n", false),
            (books, books, true),
            (
                "https://Example.com/books/{id}",
                "https://example.com/books/1",
                false,
            ),
            (
                "https://example.com/{+path}",
                "https://example.com/a/b/c?x=1#f",
                true,
            ),
            (
                "https://example.com/{+path}",
                "https://example.com/{id}",
                false,
            ),
            (
                "https://example.com/{+path}/edit",
                "https://example.com/a/b/edit",
                true,
            ),
            (
                "https://example.com/{a,b}",
                "https://example.com/x,y,z",
                true,
            ),
            (
                "https://example.com/{a}/{b}",
                "https://example.com/kevin/dunglas",
                true,
            ),
            (
                "https://example.com/search{?q}",
                "https://example.com/search?q=rust",
                true,
            ),
            (
                "https://example.com/search{?q}",
                "https://example.com/search",
                true,
            ),
            (
                "https://example.com/search{?q}",
                "https://example.com/search?other=1",
                true,
            ),
            (
                "https://example.com/search{?q}",
                "https://example.com/search?q=a&r=b",
                false,
            ),
            (
                "https://example.com/search{?q,lang}",
                "https://example.com/search?q=a&lang=fr",
                true,
            ),
            (
                "https://example.com/search{?q,lang}",
                "https://example.com/search?q=a&lang=fr&x=1",
                false,
            ),
            (
                "https://example.com/search{?list*}",
                "https://example.com/search?a=1&b=2&c=3",
                true,
            ),
            (
                "https://example.com/?a=1{&x}",
                "https://example.com/?a=1&x=2",
                true,
            ),
            (
                "https://example.com/users/foo/{?topic}",
                "https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1",
                true,
            ),
            (
                "https://example.com/users/foo/{?topic}",
                "https://example.com/users/foo/?topic=https://example.com/books/1",
                false,
            ),
            (
                "https://example.com/files{/seg}",
                "https://example.com/files/a",
                true,
            ),
            (
                "https://example.com/files{/seg}",
                "https://example.com/files/a/b",
                false,
            ),
            (
                "https://example.com/files{/seg*}",
                "https://example.com/files/a/b/c",
                true,
            ),
            (
                "https://example.com/doc{.ext}",
                "https://example.com/doc.tar.gz",
                true,
            ),
            (
                "https://example.com/m{;x}",
                "https://example.com/m;x=1",
                true,
            ),
            (
                "https://example.com/page{#frag}",
                "https://example.com/page#a/b",
                true,
            ),
            (
                "https://example.com/{id:3}",
                "https://example.com/12345",
                true,
            ),
            (
                "https://example.com/books/*",
                "https://example.com/books/1",
                false,
            ),
            (
                "https://example.com/books/*",
                "https://example.com/books/*",
                true,
            ),
            (
                "https://example.com/books",
                "https://example.com/books/1",
                false,
            ),
            ("https://example.com/{}", "https://example.com/", false),
            ("https://example.com/{ id}", "https://example.com/1", false),
            ("https://example.com/{id", "https://example.com/1", false),
            ("https://example.com/{=id}", "https://example.com/1", false),
            (
                "https://example.com/a b/{id}",
                "https://example.com/a b/1",
                false,
            ),
            (
                "https://example.com/a%zz/{id}",
                "https://example.com/a%zz/1",
                false,
            ),
            (
                "https://example.com/caf%C3%A9/{id}",
                "https://example.com/caf%C3%A9/1",
                true,
            ),
            (
                "https://example.com/caf%C3%A9/{id}",
                "https://example.com/caf\u{e9}/1",
                false,
            ),
            (
                "https://example.com/caf\u{e9}/{id}",
                "https://example.com/caf\u{e9}/1",
                true,
            ),
            (
                "/.well-known/mercure/subscriptions{/topic}{/subscriber}",
                "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2F%7Bs%7D/urn%3Auuid%3Abb3d",
                true,
            ),
            (
                "/.well-known/mercure/subscriptions{/topic}{/subscriber}",
                "/.well-known/mercure/subscriptions",
                true,
            ),
            (
                "/.well-known/mercure/subscriptions{/topic}{/subscriber}",
                "/.well-known/mercure/subscriptions/a+b/urn%3Auuid%3Ax",
                false,
            ),
        ] {
            assert_eq!(
                Selector::parse(selector).matches(topic),
                expected,
                "{selector} ~ {topic:?}"
            );
        }
    }
}
