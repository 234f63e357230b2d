//! One environment variable Herald reads, and the typed helpers that read it
//! (in the manner of crates.io's `crates_io_env_vars::var_parsed`): every
//! value is trimmed, a blank one counts as unset, and a refused one names its
//! variable and what it accepts.

use std::ops::RangeInclusive;
use std::str::FromStr;

use super::ConfigError;
use crate::auth::MIN_SECRET_BYTES;

/// Where values come from: the process environment, or a test's own list.
pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A variable's name, default and accepted values. Parsing, error messages
/// and the check of `.env.example` and `docs/configuration.md` all read them
/// from here.
#[derive(Debug)]
pub struct Setting {
    pub name: &'static str,
    /// As `.env.example` writes it; empty stands for unset.
    pub default: &'static str,
    pub accepts: Accepts,
}

#[derive(Debug)]
pub enum Accepts {
    /// A whole number of `unit` within `range`; `note`, unless empty, says
    /// what a special value means.
    WholeNumber {
        unit: &'static str,
        range: RangeInclusive<u64>,
        note: &'static str,
    },
    /// A signing secret of at least `MIN_SECRET_BYTES`, never echoed back.
    Secret,
    /// Text of this shape, which the setting's own parser checks.
    Shape(&'static str),
}

impl Accepts {
    /// What a refused value should have been.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::WholeNumber { unit, range, note } => {
                let (start, end) = (range.start(), range.end());
                let bounds = match start {
                    0 => format!("up to {end}"),
                    _ => format!("from {start} to {end}"),
                };
                let note = if note.is_empty() {
                    String::new()
                } else {
                    format!(" ({note})")
                };
                format!("a whole number of {unit} {bounds}{note}")
            }
            Self::Secret => format!(
                "a secret of at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)"
            ),
            Self::Shape(shape) => (*shape).to_owned(),
        }
    }
}

impl Setting {
    /// The variable's value trimmed, or the default when it is unset or blank.
    pub(super) fn read(&self, lookup: Lookup) -> String {
        lookup(self.name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| self.default.to_owned())
    }

    /// The value parsed as `T`, or refused with what this setting accepts.
    pub(super) fn parsed<T: FromStr>(&self, lookup: Lookup) -> Result<T, ConfigError> {
        let value = self.read(lookup);
        value.parse().map_err(|_| self.invalid(value))
    }

    /// The value as a whole number within this setting's range.
    pub(super) fn number<T: TryFrom<u64>>(&self, lookup: Lookup) -> Result<T, ConfigError> {
        self.whole_number(self.read(lookup))
    }

    /// Like `number`, but `None` when the value (default included) is empty.
    pub(super) fn optional_number<T: TryFrom<u64>>(
        &self,
        lookup: Lookup,
    ) -> Result<Option<T>, ConfigError> {
        match self.read(lookup) {
            value if value.is_empty() => Ok(None),
            value => self.whole_number(value).map(Some),
        }
    }

    fn whole_number<T: TryFrom<u64>>(&self, value: String) -> Result<T, ConfigError> {
        // A setting the table gives no range takes no number: every start-up,
        // defaults included, would say so.
        let Accepts::WholeNumber { range, .. } = &self.accepts else {
            return Err(self.invalid(value));
        };
        match value.parse::<u64>() {
            Ok(n) if range.contains(&n) => T::try_from(n).map_err(|_| self.invalid(value)),
            _ => Err(self.invalid(value)),
        }
    }

    /// `value` refused, with what this setting accepts.
    pub(super) fn invalid(&self, value: String) -> ConfigError {
        self.refuse(value, self.accepts.describe())
    }

    /// `value` refused by a rule that involves more than this setting alone.
    pub(super) fn refuse(&self, value: String, expected: String) -> ConfigError {
        let value = match self.accepts {
            Accepts::Secret => "<redacted>".to_owned(),
            _ => value,
        };
        ConfigError {
            variable: self.name,
            value,
            expected,
        }
    }
}
