//! The token format: `mm_pat_` + 26 random base62 characters + a 6-character CRC-32 checksum.
//! The checksum lets a secret scanner, and this server before any database work, tell a real
//! token from a typo. Only `TokenHash` is ever stored.

use std::fmt;

use super::TokenHash;

use rand::distributions::{Distribution, Uniform};

/// Never change this: every token ever issued starts with it, and a server that expects
/// another prefix silently revokes them all.
pub const TOKEN_PREFIX: &str = "mm_pat_";
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 26;
const CHECKSUM_LEN: usize = 6;
/// The whole token's length: prefix, random part, checksum.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
/// The token's shape as `/api/openapi.json` states it: what `parse` checks before the
/// checksum, which no pattern can say (a unit test keeps the two in step).
pub const TOKEN_PATTERN: &str = "^mm_pat_[0-9A-Za-z]{32}$";
/// Random characters shown in the display prefix (`mm_pat_A3B9`).
const DISPLAY_RANDOM_CHARS: usize = 4;

/// `text` with every token-shaped run (`mm_pat_` and what follows in the token alphabet)
/// cut to its display prefix, for text that is logged, such as a request path: a token
/// pasted into a URL by mistake must not reach the logs whole.
pub fn mask_in(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(TOKEN_PREFIX) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(TOKEN_PREFIX) {
        let (before, token) = rest.split_at(at);
        out.push_str(before);
        let body = &token[TOKEN_PREFIX.len()..];
        let run = body.bytes().take_while(u8::is_ascii_alphanumeric).count();
        out.push_str(TOKEN_PREFIX);
        out.push_str(&body[..run.min(DISPLAY_RANDOM_CHARS)]);
        if run > DISPLAY_RANDOM_CHARS {
            out.push('…');
        }
        rest = &body[run..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Every checksum-valid token in `text` that stands alone as a word — what the published
/// pattern `\bmm_pat_[0-9A-Za-z]{32}\b` matches, less the typos and lookalikes the checksum
/// rules out — with its byte offset. For secret scanning (`mantel scan`): the prefix is found
/// with memchr's vectorised substring search, so text without it costs one pass at memory
/// speed, and only a candidate is checked further.
pub fn find_in(text: &[u8]) -> impl Iterator<Item = (usize, PlainToken)> + '_ {
    // A word character in the regex sense: a token glued to one is part of a longer word.
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    memchr::memmem::find_iter(text, TOKEN_PREFIX.as_bytes()).filter_map(move |at| {
        if at > 0 && word(&text[at - 1]) {
            return None;
        }
        let candidate = text.get(at..at + TOKEN_LEN)?;
        if text.get(at + TOKEN_LEN).is_some_and(word) {
            return None;
        }
        let candidate = std::str::from_utf8(candidate).ok()?;
        PlainToken::parse(candidate).ok().map(|t| (at, t))
    })
}

/// A plaintext token. It exists only while it is being issued or checked; its `Debug` shows
/// nothing secret and it has no `Display`.
pub struct PlainToken(String);

/// Why a string is not a token. Said without echoing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFormatError {
    Prefix,
    Length,
    Alphabet,
    Checksum,
}

impl PlainToken {
    /// A new token from the operating system's CSPRNG, each character drawn uniformly
    /// (`Uniform` rejects rather than taking a modulo, so there is no bias).
    pub fn generate() -> Self {
        let index = Uniform::from(0..ALPHABET.len());
        let mut token = String::with_capacity(TOKEN_LEN);
        token.push_str(TOKEN_PREFIX);
        token.extend(
            index
                .sample_iter(rand::rngs::OsRng)
                .take(RANDOM_LEN)
                .map(|i| ALPHABET[i] as char),
        );
        token.extend(checksum(&token).map(char::from));
        PlainToken(token)
    }

    /// Whether `s` has a token's shape (`TOKEN_PATTERN`), whatever its checksum.
    pub fn is_shaped(s: &str) -> bool {
        !matches!(
            PlainToken::parse(s),
            Err(TokenFormatError::Prefix | TokenFormatError::Length | TokenFormatError::Alphabet)
        )
    }

    /// Accepts only a well-formed token with a correct checksum; touches nothing else.
    pub fn parse(s: &str) -> Result<Self, TokenFormatError> {
        let rest = s
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenFormatError::Prefix)?;
        if rest.len() != RANDOM_LEN + CHECKSUM_LEN {
            return Err(TokenFormatError::Length);
        }
        if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TokenFormatError::Alphabet);
        }
        let (body, sum) = s.split_at(TOKEN_PREFIX.len() + RANDOM_LEN);
        if checksum(body) != sum.as_bytes() {
            return Err(TokenFormatError::Checksum);
        }
        Ok(PlainToken(s.to_owned()))
    }

    /// The secret itself, for the one response that hands it over.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.as_bytes())
    }

    /// What the list shows to tell tokens apart: `mm_pat_` and the first random characters.
    pub fn display_prefix(&self) -> &str {
        &self.0[..TOKEN_PREFIX.len() + DISPLAY_RANDOM_CHARS]
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken(<redacted>)")
    }
}

/// CRC-32 (IEEE, as zlib computes it) of `body`, in base62, most significant digit first,
/// left-padded with `0` to six characters. Bytes, not a String: every bearer request computes
/// it, and comparing needs no allocation.
fn checksum(body: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_pattern_is_the_shape_parse_checks() {
        let pattern = regex_lite::Regex::new(TOKEN_PATTERN).unwrap();
        let good = PlainToken::generate();
        let mut typo = good.expose().to_owned();
        typo.replace_range(10..11, if &typo[10..11] == "A" { "B" } else { "A" });
        for s in [
            good.expose(),
            typo.as_str(),
            "mm_pat_",
            "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-",
            "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAé",
            "xx_pat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(pattern.is_match(s), PlainToken::is_shaped(s), "{s}");
        }
        assert!(PlainToken::is_shaped(&typo) && PlainToken::parse(&typo).is_err());
    }

    #[test]
    fn tokens_in_logged_text_are_cut_to_their_prefix() {
        assert_eq!(
            mask_in("/api/me/mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp/x"),
            "/api/me/mm_pat_AAAA…/x"
        );
        assert_eq!(
            mask_in("mm_pat_ab mm_pat_000000000000000000000000001L1Mwu"),
            "mm_pat_ab mm_pat_0000…"
        );
        assert_eq!(mask_in("/api/projects"), "/api/projects");
    }

    const VECTORS: [&str; 2] = [
        "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp",
        "mm_pat_000000000000000000000000001L1Mwu",
    ];

    #[test]
    fn spec_vectors_parse() {
        for v in VECTORS {
            assert!(PlainToken::parse(v).is_ok(), "{v} should be well-formed");
        }
    }

    /// Every single-character change of a valid token — each position, each other character
    /// of the alphabet and a few outside it — is rejected.
    fn assert_every_mutation_rejected(token: &str) {
        let outside = ['_', '-', ' ', 'é', '\0'];
        for (i, original) in token.char_indices() {
            let candidates = ALPHABET.iter().map(|&b| b as char).chain(outside);
            for c in candidates.filter(|&c| c != original) {
                let mut mutated = String::with_capacity(token.len() + 1);
                mutated.push_str(&token[..i]);
                mutated.push(c);
                mutated.push_str(&token[i + original.len_utf8()..]);
                assert!(PlainToken::parse(&mutated).is_err(), "accepted {mutated}");
            }
        }
    }

    #[test]
    fn one_character_changes_are_rejected() {
        for v in VECTORS {
            assert_every_mutation_rejected(v);
        }
    }

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let t = PlainToken::generate();
            let s = t.expose();
            assert_eq!(s.len(), TOKEN_LEN);
            assert!(s.starts_with(TOKEN_PREFIX));
            assert!(s[TOKEN_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric()));
            assert!(PlainToken::parse(s).is_ok());
            assert_eq!(t.display_prefix(), &s[..11]);
            assert!(seen.insert(s.to_owned()), "duplicate token");
        }
        assert_every_mutation_rejected(PlainToken::generate().expose());
    }

    #[test]
    fn generation_uses_the_whole_alphabet_evenly() {
        let mut counts = [0u32; 62];
        for _ in 0..2_000 {
            let t = PlainToken::generate();
            for b in t.expose()[TOKEN_PREFIX.len()..TOKEN_PREFIX.len() + RANDOM_LEN].bytes() {
                counts[ALPHABET.iter().position(|&a| a == b).unwrap()] += 1;
            }
        }
        // 52 000 draws, 838.7 expected per character; a biased or truncated alphabet would
        // leave characters far outside this band (it is > 8 standard deviations wide).
        assert!(
            counts.iter().all(|&c| (600..1100).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn wrong_shapes_are_rejected_with_a_reason() {
        assert_eq!(
            PlainToken::parse("gh_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp").unwrap_err(),
            TokenFormatError::Prefix
        );
        assert_eq!(
            PlainToken::parse("mm_pat_AAAA").unwrap_err(),
            TokenFormatError::Length
        );
        assert_eq!(
            PlainToken::parse("mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAA-2dbXlp").unwrap_err(),
            TokenFormatError::Alphabet
        );
        assert_eq!(
            PlainToken::parse("mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAB2dbXlp").unwrap_err(),
            TokenFormatError::Checksum
        );
    }

    #[test]
    fn tokens_are_found_in_text_only_when_whole_and_checksum_valid() {
        let [a, b] = VECTORS;
        let near_miss = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAB2dbXlp";
        let text =
            format!("key={a}\n{near_miss} x_{b} {b}_x {b}0 \"{b}\"\0\u{ff}mm_pat_ mm_pat_{a}");
        let found: Vec<(usize, String)> = find_in(text.as_bytes())
            .map(|(at, t)| (at, t.expose().to_owned()))
            .collect();
        let second = text.find(&format!("\"{b}\"")).unwrap() + 1;
        assert_eq!(found, [(4, a.to_owned()), (second, b.to_owned())]);
        assert_eq!(find_in(b"").count(), 0);
        assert_eq!(find_in(&a.as_bytes()[..TOKEN_LEN - 1]).count(), 0);
    }

    #[test]
    fn secrets_do_not_print() {
        let t = PlainToken::generate();
        assert!(!format!("{t:?}").contains(t.expose()));
        let h = t.hash();
        let hex = blake3::hash(t.expose().as_bytes()).to_hex();
        assert!(!format!("{h:?}").contains(hex.as_str()));
        assert_eq!(h, TokenHash::of(t.expose().as_bytes()));
    }
}
