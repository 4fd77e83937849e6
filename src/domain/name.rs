//! The rule for names people give things (tokens, projects, passkeys): what the list shows must be what
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

/// Checks `raw` and trims it: at most 100 characters as sent, no control characters (not even
/// at an end, where trimming would drop them), no
/// Unicode format characters (general category Cf: bidi overrides and isolates, zero-width
/// spaces and joiners, the BOM, …), and at least one visible character. (The length is of
/// what was sent, so that `maxLength` in the document says it exactly.)
fn parse(raw: &str, what: &'static str) -> Result<String, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty(what));
    }
    if raw.chars().count() > MAX_CHARS {
        return Err(NameError::TooLong);
    }
    if raw.chars().any(|c| c.is_control() || is_format(c)) {
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
name_type!(
    /// What a person calls one of their passkeys ("Laptop"), to tell them apart.
    PasskeyName,
    "passkey"
);

/// Unicode general category Cc, the control characters (`char::is_control`).
const CONTROL: &[(u32, u32)] = &[(0x00, 0x1F), (0x7F, 0x9F)];

/// Unicode general category Cf (Unicode 16), the characters that steer rendering without
/// drawing anything: U+202E turns `gpj.exe` into `exe.jpg` on screen.
const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// White space as `char::is_whitespace` (and `trim`) has it, less what `CONTROL` holds.
const SPACE: &[(u32, u32)] = &[
    (0x20, 0x20),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
];

/// The letters and marks that render blank: Hangul fillers, the braille blank, variation
/// selectors, the grapheme joiner.
const BLANK: &[(u32, u32)] = &[
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180D),
    (0x180F, 0x180F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0100, 0xE01EF),
];

fn within(table: &[(u32, u32)], c: char) -> bool {
    table
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)))
}

fn is_format(c: char) -> bool {
    within(FORMAT, c)
}

/// Draws something: not a space, and not a character that renders blank.
fn is_visible(c: char) -> bool {
    !c.is_whitespace() && !within(BLANK, c)
}

/// The name rule as `/api/openapi.json` states it, from the same tables: no control or format
/// character anywhere, and at least one character that is none of those, nor a space, nor
/// blank. With `maxLength` = `MAX_CHARS` it says exactly what `parse` accepts. Characters are
/// written as themselves (outside the Basic Multilingual Plane, an escape would read
/// differently in ECMA-262 and in Python), except the ASCII and C1 ones, escaped as `\xNN`.
pub fn pattern() -> String {
    let class = |tables: &[&[(u32, u32)]]| {
        let mut class = String::from("[^");
        for &(lo, hi) in tables.iter().flat_map(|t| t.iter()) {
            let char_of = |n: u32| match char::from_u32(n) {
                Some(c) if n > 0xA0 => c.to_string(),
                _ => format!("\\x{n:02x}"),
            };
            class.push_str(&char_of(lo));
            if hi > lo {
                class.push('-');
                class.push_str(&char_of(hi));
            }
        }
        class.push(']');
        class
    };
    let allowed = class(&[CONTROL, FORMAT]);
    let visible = class(&[CONTROL, FORMAT, SPACE, BLANK]);
    format!("^{allowed}*{visible}{allowed}*$")
}

/// A name in a request body, as `/api/openapi.json` states it.
pub fn schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .max_length(Some(MAX_CHARS))
        .pattern(Some(pattern()))
        .description(Some(format!(
            "1 to {MAX_CHARS} characters, trimmed: no control or formatting characters, at \
             least one visible one."
        )))
        .build()
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
    fn the_pattern_accepts_exactly_what_parse_does() {
        let pattern = regex_lite::Regex::new(&pattern()).unwrap();
        // Every character of the first planes' start, and each table's edges, alone, beside a
        // visible one, and among spaces.
        let edges = [CONTROL, FORMAT, SPACE, BLANK]
            .into_iter()
            .flatten()
            .flat_map(|&(lo, hi)| [lo.saturating_sub(1), lo, hi, hi + 1]);
        for c in (0..0x3200u32).chain(edges).filter_map(char::from_u32) {
            for s in [c.to_string(), format!("a{c}"), format!(" {c} ")] {
                assert_eq!(
                    pattern.is_match(&s),
                    parse(&s, "token").is_ok(),
                    "{:?}",
                    c as u32
                );
            }
        }
        assert!(!pattern.is_match(""));
        // White space as `trim` has it: SPACE, and control characters.
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(
                c.is_whitespace(),
                within(SPACE, c) || (c.is_control() && c.is_whitespace()),
                "{:?}",
                c as u32
            );
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
