//! The rule for a project file's name: one path segment that shows what it is.

/// The longest name, in characters.
pub const MAX_CHARS: usize = 255;

/// `/api/openapi.json`'s statement of `is_valid`, for the `{name}` path parameter: not `.` or
/// `..`, 1 to 255 characters, none of them `/`, `\` or a control character (Unicode Cc:
/// U+0000–U+001F, U+007F–U+009F). A unit test holds the two together.
pub fn pattern() -> String {
    format!(r"^(?!\.\.?$)[^/\\\x00-\x1f\x7f-\x9f]{{1,{MAX_CHARS}}}$")
}

/// Whether `name` may name a file.
pub fn is_valid(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=MAX_CHARS).contains(&chars)
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_says_what_is_valid_checks() {
        // regex-lite has no look-ahead: the `.`/`..` part is checked on its own.
        let body = pattern().replace(r"(?!\.\.?$)", "");
        let shape = regex_lite::Regex::new(&body).unwrap();
        let long = "é".repeat(MAX_CHARS);
        let too_long = "é".repeat(MAX_CHARS + 1);
        for name in [
            "report.pdf",
            "a b",
            "..a",
            "%",
            "é",
            long.as_str(),
            too_long.as_str(),
            "",
            "a/b",
            "a\\b",
            "a\u{7}",
            "a\u{91}",
            "\u{7f}",
        ] {
            assert_eq!(shape.is_match(name), is_valid(name), "{name:?}");
        }
        for dots in [".", ".."] {
            assert!(shape.is_match(dots) && !is_valid(dots));
            assert!(pattern().starts_with(r"^(?!\.\.?$)"));
        }
        // Every control character, and nothing else of the first 256.
        for c in (0..=0x2ffu32).filter_map(char::from_u32) {
            let name = format!("x{c}");
            assert_eq!(shape.is_match(&name), is_valid(&name), "{c:?}");
        }
    }
}
