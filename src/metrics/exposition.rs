//! The two text formats scrapers ask `/metrics` for, chosen from `Accept`
//! the way the Prometheus Go client's `promhttp` chooses: OpenMetrics when
//! the scraper names it (Prometheus does, first), the classic Prometheus
//! text format (version 0.0.4) otherwise, which older scrapers and the
//! classic parsers read in full.

/// How a scrape is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    /// The Prometheus text format, version 0.0.4.
    Classic,
}

impl Format {
    /// The format a scraper that sent `accept` reads.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let asks_for_openmetrics = accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next().unwrap_or_default();
                // `q=0` means "not this one".
                let refused = parts.any(|p| p.replace(' ', "") == "q=0");
                media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
        if asks_for_openmetrics {
            Self::OpenMetrics
        } else {
            Self::Classic
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// `openmetrics` in the classic text format: a counter family is named by
/// its `_total` sample there, OpenMetrics' `# UNIT`, `_created` samples and
/// `# EOF` do not exist, and the rest is written alike.
pub fn to_classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut classic = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|marker| {
            let rest = line.strip_prefix(marker)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{marker}{name}_total {tail}"))
        });
        match renamed {
            Some(renamed) => classic.push_str(&renamed),
            None if is_created_sample(line, &counters) => continue,
            None => classic.push_str(line),
        }
        classic.push('\n');
    }
    classic
}

/// Whether `line` is the `_created` sample of a counter.
fn is_created_sample(line: &str, counters: &std::collections::HashSet<&str>) -> bool {
    let name = line.split(['{', ' ']).next().unwrap_or_default();
    name.strip_suffix("_created")
        .is_some_and(|family| counters.contains(family))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrapers_get_the_format_they_name() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                          version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        for classic in [
            None,
            Some("text/plain; version=0.0.4"),
            Some("*/*"),
            Some("application/openmetrics-text; q=0, text/plain"),
        ] {
            assert_eq!(Format::negotiate(classic), Format::Classic, "{classic:?}");
        }
    }

    #[test]
    fn counters_are_named_by_their_total_in_the_classic_format() {
        let openmetrics = "# HELP http_requests Requests.\n# TYPE http_requests counter\n\
                           http_requests_total{route=\"/\"} 3\nhttp_requests_created 1.5\n\
                           # HELP up Whether up.\n# TYPE up gauge\n# UNIT up seconds\nup 1\n# EOF\n";
        assert_eq!(
            to_classic(openmetrics),
            "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
             http_requests_total{route=\"/\"} 3\n# HELP up Whether up.\n# TYPE up gauge\nup 1\n"
        );
    }
}
