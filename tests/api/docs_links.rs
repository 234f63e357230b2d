//! Every relative link of the manual resolves: in `README.md`, `docs/`,
//! `BENCHMARKS.md` and the other READMEs, a link's file exists and its
//! `#anchor` names a heading of that file, as GitHub makes anchors from
//! headings. A renamed heading or a moved file fails here, with the list of
//! links it broke, instead of leaving dead links. Links to other sites
//! (`https://…`) are not checked.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use crate::helpers::files_under;

/// The documents whose links are checked, from the repository's root; each
/// must exist. `docs/` (every `.md` in it, at any depth), the client
/// package's and `patches/`'s own READMEs are added by [`documents`].
const DOCUMENTS: [&str; 3] = ["README.md", "BENCHMARKS.md", "tests/browser/README.md"];

#[test]
fn every_relative_link_in_the_manual_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let documents = documents(root);
    let (checked, broken) = check(root, &documents);
    assert!(
        broken.is_empty(),
        "{} broken links (of {checked} checked):\n{}",
        broken.len(),
        broken.join("\n")
    );
    // A parser that found no links would pass the assertion above.
    assert!(checked > 50, "only {checked} links found in {documents:?}");
}

#[test]
fn a_missing_file_or_heading_is_reported() -> Result<(), Box<dyn std::error::Error>> {
    let root = tempfile::tempdir()?;
    std::fs::create_dir(root.path().join("docs"))?;
    std::fs::write(
        root.path().join("README.md"),
        "# Title\n\nSee [the guide](docs/guide.md#the-api-get-users), \
         [its second part](docs/guide.md#setup-1), [a\nmissing one](docs/gone.md), \
         [a renamed heading](docs/guide.md#the-old-name), [here](#title) and \
         [the site](https://example.com/x.md#nothing).\n\n\
         ```sh\necho [not a link](nowhere.md)\n```\n\n`[not a link](nowhere.md)` either.\n",
    )?;
    std::fs::write(
        root.path().join("docs/guide.md"),
        "# Setup\n\n## Setup\n\n## The API: `GET /users`\n\n\
         Back to [the top](../README.md#title), to [nothing](#nothing).\n",
    )?;
    let documents = vec![PathBuf::from("README.md"), PathBuf::from("docs/guide.md")];
    let (checked, broken) = check(root.path(), &documents);
    assert_eq!(checked, 7);
    assert_eq!(
        broken,
        [
            "README.md:4: docs/gone.md: no such file",
            "README.md:4: docs/guide.md#the-old-name: docs/guide.md has no heading \
             with that anchor (it has: setup, setup-1, the-api-get-users)",
            "docs/guide.md:7: #nothing: docs/guide.md has no heading with that anchor \
             (it has: setup, setup-1, the-api-get-users)",
        ]
    );
    Ok(())
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    let mut seen = HashMap::new();
    let anchors: Vec<String> = [
        "The stream: `GET /api/sse/stream` (also `/events`)",
        "Client: `herald.js`",
        "The live users page: `GET /`",
        "Where it differs from Mercure's hub",
        "A worked example: `orders`, from `CREATE TABLE` to a live page",
        "HTTPS and HTTP/2",
        "Idle memory (issue 23)",
        "snake_case and kebab-case",
        "Café – déjà vu",
        "See [the guide](guide.md) **now**",
        "Setup",
        "Setup",
        "Setup-1",
    ]
    .iter()
    .map(|heading| anchor(heading, &mut seen))
    .collect();
    assert_eq!(
        anchors,
        [
            "the-stream-get-apissestream-also-events",
            "client-heraldjs",
            "the-live-users-page-get-",
            "where-it-differs-from-mercures-hub",
            "a-worked-example-orders-from-create-table-to-a-live-page",
            "https-and-http2",
            "idle-memory-issue-23",
            "snake_case-and-kebab-case",
            "café--déjà-vu",
            "see-the-guide-now",
            "setup",
            "setup-1",
            "setup-1-1",
        ]
    );
}

/// [`DOCUMENTS`], every `.md` under `docs/`, and the READMEs of
/// `clients/js/` and `patches/` where there are any (not those of the
/// crates patched there: they are upstream's), relative to `root`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut documents: Vec<PathBuf> = DOCUMENTS.iter().map(PathBuf::from).collect();
    let docs: Vec<PathBuf> = files_under(&root.join("docs"), "md")
        .iter()
        .map(|file| file.strip_prefix(root).unwrap_or(file).to_path_buf())
        .collect();
    assert!(!docs.is_empty(), "no .md files under docs/");
    documents.extend(docs);
    for dir in ["clients/js", "patches"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut readmes: Vec<PathBuf> = entries
            .flatten()
            .filter(|entry| entry.path().is_file())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.to_ascii_lowercase().starts_with("readme"))
            .map(|name| Path::new(dir).join(name))
            .collect();
        readmes.sort();
        documents.extend(readmes);
    }
    documents
}

/// Checks the links of `documents` (relative to `root`): how many relative
/// links there were, and one line for each that does not resolve.
fn check(root: &Path, documents: &[PathBuf]) -> (usize, Vec<String>) {
    let mut anchors_of: HashMap<PathBuf, Option<BTreeSet<String>>> = HashMap::new();
    let mut anchors = |file: &Path| -> Option<BTreeSet<String>> {
        anchors_of
            .entry(file.to_path_buf())
            .or_insert_with(|| {
                let text = std::fs::read_to_string(root.join(file)).ok()?;
                Some(headings(&text))
            })
            .clone()
    };
    let mut checked = 0;
    let mut broken = Vec::new();
    for document in documents {
        let name = document.display();
        let Ok(text) = std::fs::read_to_string(root.join(document)) else {
            broken.push(format!("{name}: cannot be read (the link check lists it)"));
            continue;
        };
        for (line, target) in links(&text) {
            if has_scheme(&target) {
                continue;
            }
            checked += 1;
            let (path, fragment) = match target.split_once('#') {
                Some((path, fragment)) => (path, Some(percent_decoded(fragment))),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                document.clone()
            } else {
                match resolve(document, &percent_decoded(path)) {
                    Some(file) => file,
                    None => {
                        broken.push(format!("{name}:{line}: {target}: outside the repository"));
                        continue;
                    }
                }
            };
            if !root.join(&file).exists() {
                broken.push(format!("{name}:{line}: {target}: no such file"));
                continue;
            }
            let Some(fragment) = fragment else {
                continue;
            };
            let shown = file.display();
            if file.extension().is_some_and(|e| e == "md") {
                let known = anchors(&file).unwrap_or_default();
                if !known.contains(&fragment) {
                    let list: Vec<&str> = known.iter().map(String::as_str).collect();
                    broken.push(format!(
                        "{name}:{line}: {target}: {shown} has no heading with that anchor \
                         (it has: {})",
                        list.join(", ")
                    ));
                }
            } else if !is_line_anchor(&fragment) {
                broken.push(format!(
                    "{name}:{line}: {target}: {shown} is not markdown: only #L<n> anchors"
                ));
            }
        }
    }
    (checked, broken)
}

/// `https:`, `mailto:`, …: another site's, not checked.
fn has_scheme(target: &str) -> bool {
    let Some((scheme, _)) = target.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// GitHub's anchor of a line of a file (`#L12`, `#L12-L20`).
fn is_line_anchor(fragment: &str) -> bool {
    fragment.split('-').all(|part| {
        part.strip_prefix('L')
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}

/// `path` as written in `document`, as a path from the repository's root
/// (`/…` starts there); `None` when it leaves the repository.
fn resolve(document: &Path, path: &str) -> Option<PathBuf> {
    let joined = match path.strip_prefix('/') {
        Some(from_root) => PathBuf::from(from_root),
        None => document.parent().unwrap_or(Path::new("")).join(path),
    };
    let mut resolved = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::Normal(part) => resolved.push(part),
            // `..` pops a component; past the root, it leaves the repository.
            Component::ParentDir if !resolved.pop() => return None,
            _ => {}
        }
    }
    Some(resolved)
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// `text` without its fenced code blocks and code spans: each of their
/// characters but line breaks becomes a space, so lines keep their numbers.
fn prose(text: &str) -> String {
    blank_code_spans(&without_fences(text))
}

/// `text` with its fenced code blocks blanked.
fn without_fences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<(char, usize)> = None;
    for line in text.split_inclusive('\n') {
        let (marker, length) = fence_of(line);
        let in_code = match fence {
            Some((open, open_length)) => {
                if marker == Some(open) && length >= open_length && closes(line) {
                    fence = None;
                }
                true
            }
            None => {
                if let Some(marker) = marker {
                    fence = Some((marker, length));
                }
                marker.is_some()
            }
        };
        if in_code {
            out.extend(line.chars().map(|c| if c == '\n' { c } else { ' ' }));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The fence a line opens or closes (three or more `` ` `` or `~`, indented
/// at most three spaces), and its length.
fn fence_of(line: &str) -> (Option<char>, usize) {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    for marker in ['`', '~'] {
        let length = rest.len() - rest.trim_start_matches(marker).len();
        if indent <= 3 && length >= 3 {
            return (Some(marker), length);
        }
    }
    (None, 0)
}

/// A closing fence has nothing after its marker.
fn closes(line: &str) -> bool {
    line.trim().trim_start_matches(['`', '~']).trim().is_empty()
}

/// Code spans (`` `…` ``, the same number of backticks closing as opening,
/// across line breaks but not past a paragraph's end) blanked to spaces.
fn blank_code_spans(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let run_at = |at: usize| chars[at..].iter().take_while(|c| **c == '`').count();
    let blank_line_after = |at: usize| {
        let next: String = chars[at + 1..].iter().take_while(|c| **c != '\n').collect();
        next.trim().is_empty()
    };
    let mut out: Vec<char> = chars.clone();
    let mut at = 0;
    while at < chars.len() {
        if chars[at] != '`' {
            at += 1;
            continue;
        }
        let opening = run_at(at);
        let mut end = at + opening;
        let mut closing = None;
        while end < chars.len() {
            if chars[end] == '`' {
                let run = run_at(end);
                if run == opening {
                    closing = Some(end);
                    break;
                }
                end += run;
            } else if chars[end] == '\n' && blank_line_after(end) {
                break;
            } else {
                end += 1;
            }
        }
        match closing {
            Some(close) => {
                for c in &mut out[at..close + opening] {
                    if *c != '\n' {
                        *c = ' ';
                    }
                }
                at = close + opening;
            }
            None => at += opening,
        }
    }
    out.into_iter().collect()
}

/// Every link target of `text` outside code, with its line: inline links
/// and images (`](target)`, `](<target>)`, a title after it left out) and
/// reference definitions (`[label]: target`).
fn links(text: &str) -> Vec<(usize, String)> {
    let prose = prose(text);
    let line_of = |at: usize| prose[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in prose.match_indices("](") {
        let rest = &prose[at + 2..];
        let target = match rest.strip_prefix('<') {
            Some(inside) => inside.split('>').next().unwrap_or_default(),
            None => rest
                .split(|c: char| c == ')' || c.is_whitespace())
                .next()
                .unwrap_or_default(),
        };
        found.push((line_of(at), target.to_owned()));
    }
    for (number, line) in prose.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('[')
            && let Some((label, target)) = rest.split_once("]:")
            && !label.is_empty()
            && !label.contains(']')
        {
            let target = target.split_whitespace().next().unwrap_or_default();
            let target = target.trim_start_matches('<').trim_end_matches('>');
            found.push((number + 1, target.to_owned()));
        }
    }
    found.sort();
    found
}

/// The anchors GitHub gives the headings of a markdown file: ATX headings
/// (`## …`) and setext ones (a line underlined with `===` or `---`), not in
/// code, and `<a name="…">` / `id="…"` anchors.
fn headings(text: &str) -> BTreeSet<String> {
    let prose = without_fences(text);
    let mut seen = HashMap::new();
    let mut anchors = BTreeSet::new();
    let mut previous = "";
    for line in prose.lines() {
        let trimmed = line.trim();
        let indent = line.len() - line.trim_start_matches(' ').len();
        let hashes = trimmed.len() - trimmed.trim_start_matches('#').len();
        let after = &trimmed[hashes..];
        if indent <= 3
            && (1..=6).contains(&hashes)
            && (after.is_empty() || after.starts_with([' ', '\t']))
        {
            let mut heading = after.trim();
            // A closing sequence of `#`s, after a space.
            let unclosed = heading.trim_end_matches('#');
            if unclosed.is_empty() || unclosed.ends_with([' ', '\t']) {
                heading = unclosed.trim_end();
            }
            anchors.insert(anchor(heading, &mut seen));
        } else if indent <= 3
            && !trimmed.is_empty()
            && (trimmed.chars().all(|c| c == '=') || trimmed.chars().all(|c| c == '-'))
            && is_paragraph_line(previous)
        {
            anchors.insert(anchor(previous.trim(), &mut seen));
        }
        for attribute in ["name=\"", "id=\""] {
            for (at, _) in line.match_indices(attribute) {
                let value = &line[at + attribute.len()..];
                if let Some((value, _)) = value.split_once('"') {
                    anchors.insert(value.to_owned());
                }
            }
        }
        previous = line;
    }
    anchors
}

/// A line that a setext underline turns into a heading: text, not a list
/// item, a table row, a quote or a heading.
fn is_paragraph_line(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty()
        && line.len() - line.trim_start().len() <= 3
        && !trimmed.starts_with(['#', '|', '>', '-', '*', '+'])
        && !trimmed
            .split_once(". ")
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// GitHub's anchor for a heading (github-slugger): the heading as rendered
/// (a link's text without its target, markup gone), in lower case, with
/// every character but letters, digits, `-`, `_` and spaces removed and
/// each space a `-`; a repeat gets `-1`, `-2`, … .
fn anchor(heading: &str, seen: &mut HashMap<String, usize>) -> String {
    let mut rendered = String::new();
    let mut rest = heading;
    while let Some(at) = rest.find("](") {
        rendered.push_str(&rest[..at]);
        rest = rest[at + 2..]
            .split_once(')')
            .map_or("", |(_, after)| after);
    }
    rendered.push_str(rest);
    let base: String = rendered
        .to_lowercase()
        .chars()
        .filter(|&c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect();
    let mut slug = base.clone();
    while seen.contains_key(&slug) {
        let count = seen.entry(base.clone()).or_insert(0);
        *count += 1;
        slug = format!("{base}-{count}");
    }
    seen.insert(slug.clone(), 0);
    slug
}
