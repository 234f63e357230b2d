/// A free-form name to show, up to 100 characters: no control characters,
/// no bidirectional controls (which can make text read differently from how
/// it is stored), and something visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest name, in characters.
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if length > Self::MAX_LEN {
            Err(format!(
                "must be at most {} characters long, got {length}",
                Self::MAX_LEN
            ))
        } else if raw.chars().all(is_blank) {
            Err("must contain something visible (send null to clear it)".to_owned())
        } else if raw.chars().any(char::is_control) {
            Err("must not contain control characters".to_owned())
        } else if let Some(c) = raw.chars().find(|&c| is_bidi_control(c)) {
            Err(format!(
                "must not contain bidirectional control characters, found U+{:04X}",
                u32::from(c)
            ))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
/// the direction marks (U+200E, U+200F, U+061C).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// White space, and characters that take no room of their own: zero-width
/// spaces and joiners, fillers, variation selectors, tags and the like.
/// Alongside visible text some of them are needed (a joiner inside an
/// emoji); alone they make a name that shows as nothing.
fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

#[cfg(test)]
mod tests {
    use super::DisplayName;

    #[test]
    fn accepts_up_to_a_hundred_characters() {
        for ok in [
            "Ada Lovelace",
            &"é".repeat(100),
            "\u{05D0}\u{05D3}\u{05D4}",
            "\u{1F469}\u{200D}\u{1F4BB} Ada",
        ] {
            assert!(DisplayName::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn rejects_long_blank_and_control_characters() {
        for bad in [&"a".repeat(101), "", "   ", "line\nbreak"] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_bidi_controls_and_invisible_names() {
        for bad in [
            "evil\u{202E}gnp.exe",
            "\u{2066}isolate\u{2069}",
            "mark\u{200F}",
            "arabic mark\u{061C}",
            "\u{200B}\u{200B}\u{200B}",
            "\u{200D}\u{FEFF}\u{2060}",
            "\u{3164}",
            " \u{2800} ",
        ] {
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
