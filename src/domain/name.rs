//! The rule for names people give things (tokens, projects): what the list shows must be what
//! was meant, so nothing invisible or direction-changing may hide in it.

use std::fmt;

pub const MAX_CHARS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Nothing but spaces; says what it is the name of.
    Empty(&'static str),
    TooLong,
    Control,
    Invisible,
}

impl std::error::Error for NameError {}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty(what) => write!(f, "Give the {what} a name."),
            NameError::TooLong => write!(f, "Use at most {MAX_CHARS} characters."),
            NameError::Control => f.write_str(
                "The name cannot contain control, formatting or text-direction characters.",
            ),
            NameError::Invisible => f.write_str("The name needs at least one visible character."),
        }
    }
}

/// Trims `raw` and checks it: 1–100 characters, no control characters, no Unicode format
/// characters (general category Cf: bidi overrides and isolates, zero-width spaces and
/// joiners, the BOM, …), and at least one visible character.
fn parse(raw: &str, what: &'static str) -> Result<String, NameError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(NameError::Empty(what));
    }
    if chars > MAX_CHARS {
        return Err(NameError::TooLong);
    }
    if name.chars().any(|c| c.is_control() || is_format(c)) {
        return Err(NameError::Control);
    }
    if !name.chars().any(is_visible) {
        return Err(NameError::Invisible);
    }
    Ok(name.to_owned())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $t:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[serde(transparent)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub struct $t(String);

        impl $t {
            pub fn parse(raw: &str) -> Result<Self, NameError> {
                parse(raw, $what).map($t)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Stored names passed `parse` when they were written.
        super::text_column!($t, |v| v.0.as_str(), |s| $t(s));
    };
}

name_type!(
    /// What a token is for ("CI pipeline"); unique among its owner's live tokens.
    TokenName,
    "token"
);
name_type!(
    /// A project's name.
    ProjectName,
    "project"
);

/// Unicode general category Cf (Unicode 16), the characters that steer rendering without
/// drawing anything: U+202E turns `gpj.exe` into `exe.jpg` on screen.
fn is_format(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// Draws something: not a space, and not one of the letters and marks that render blank
/// (Hangul fillers, the braille blank, variation selectors, the grapheme joiner).
fn is_visible(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(c as u32,
            0x034F | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180D | 0x180F | 0x2800
            | 0x3164 | 0xFE00..=0xFE0F | 0xFFA0 | 0xE0100..=0xE01EF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(
            parse("  CI pipeline ", "token").as_deref(),
            Ok("CI pipeline")
        );
        assert_eq!(
            parse("déploiement 🚀", "token").as_deref(),
            Ok("déploiement 🚀")
        );
        assert_eq!(parse(&"x".repeat(100), "token").map(|n| n.len()), Ok(100));
        assert_eq!(parse(&"x".repeat(101), "token"), Err(NameError::TooLong));
        assert_eq!(parse("   ", "project"), Err(NameError::Empty("project")));
        assert_eq!(parse("a\nb", "token"), Err(NameError::Control));
    }

    #[test]
    fn format_and_bidi_characters_are_refused() {
        for spoof in [
            "\u{202E}",
            "deploy\u{202E}gpj.exe",
            "a\u{200B}b",
            "\u{2066}x\u{2069}",
            "\u{FEFF}ci",
        ] {
            assert_eq!(parse(spoof, "token"), Err(NameError::Control), "{spoof:?}");
        }
    }

    #[test]
    fn a_name_must_show_something() {
        for blank in [
            "\u{3164}",
            "\u{2800}\u{2800}",
            "\u{115F}",
            "\u{3000}\u{3164}",
        ] {
            assert_eq!(
                parse(blank, "token"),
                Err(NameError::Invisible),
                "{blank:?}"
            );
        }
    }
}
