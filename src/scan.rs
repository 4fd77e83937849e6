//! `mantel scan`: finds Mantel tokens in files, folders or stdin, the way a secret scanner
//! does (SPEC §8.4) — the prefix, then the checksum, so a typo or a lookalike is no finding —
//! and prints where, never the token itself. Usable as a pre-commit hook: it exits 1 when it
//! finds any (`docs/secret-scanning.md`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::domain::token::{find_in, PlainToken};

/// Files larger than this are skipped: tokens live in source and configuration, not in disk
/// images, and reading those would make a pre-commit hook slow.
pub const MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;
/// A NUL byte in a file's first 8000 bytes makes it binary, as git decides it.
const BINARY_SNIFF: usize = 8000;

/// One token found.
pub struct Found {
    /// The file (or `(stdin)`) and the 1-based line.
    pub path: String,
    pub line: usize,
    pub token: PlainToken,
}

impl Found {
    /// `path:line: mm_pat_XXXX…`: where, and the display prefix, never the whole token.
    pub fn line(&self) -> String {
        format!(
            "{}:{}: {}…",
            self.path,
            self.line,
            self.token.display_prefix()
        )
    }
}

/// What a scan went through, for the summary line.
#[derive(Debug, Default)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub skipped_binary: u64,
    pub skipped_large: u64,
    pub unreadable: u64,
}

/// Scans `paths` (files, or folders walked without following symbolic links and without
/// `.git`), calling `found` for each token in order. A path given that does not exist is an
/// error; a file that cannot be read inside a folder is counted and warned about.
pub fn scan_paths(paths: &[PathBuf], found: &mut dyn FnMut(Found)) -> io::Result<Stats> {
    let mut stats = Stats::default();
    let mut buffer = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if meta.is_dir() {
            walk(path, &mut buffer, &mut stats, found);
        } else {
            scan_file(path, meta.len(), &mut buffer, &mut stats, found);
        }
    }
    Ok(stats)
}

fn walk(dir: &Path, buffer: &mut Vec<u8>, stats: &mut Stats, found: &mut dyn FnMut(Found)) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            stats.unreadable += 1;
            eprintln!("mantel scan: {}: {e}", dir.display());
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    // A stable order, so two runs print the same lines.
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                walk(&path, buffer, stats, found);
            }
        } else if kind.is_file() {
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            scan_file(&path, len, buffer, stats, found);
        }
        // Symbolic links are not followed: they can loop, or lead out of the tree.
    }
}

fn scan_file(
    path: &Path,
    len: u64,
    buffer: &mut Vec<u8>,
    stats: &mut Stats,
    found: &mut dyn FnMut(Found),
) {
    if len > MAX_FILE_SIZE {
        stats.skipped_large += 1;
        return;
    }
    buffer.clear();
    if let Err(e) = File::open(path).and_then(|mut f| f.read_to_end(buffer)) {
        stats.unreadable += 1;
        eprintln!("mantel scan: {}: {e}", path.display());
        return;
    }
    if buffer[..buffer.len().min(BINARY_SNIFF)].contains(&0) {
        stats.skipped_binary += 1;
        return;
    }
    stats.files += 1;
    stats.bytes += buffer.len() as u64;
    scan_text(&path.display().to_string(), buffer, found);
}

/// Reports every token in `text`, with its line.
pub fn scan_text(name: &str, text: &[u8], found: &mut dyn FnMut(Found)) {
    let (mut line, mut counted) = (1, 0);
    for (at, token) in find_in(text) {
        line += memchr::memchr_iter(b'\n', &text[counted..at]).count();
        counted = at;
        found(Found {
            path: name.to_owned(),
            line,
            token,
        });
    }
}

/// Reads all of stdin and scans it.
pub fn scan_stdin(found: &mut dyn FnMut(Found)) -> io::Result<Stats> {
    let mut text = Vec::new();
    io::stdin().lock().read_to_end(&mut text)?;
    scan_text("(stdin)", &text, found);
    Ok(Stats {
        files: 1,
        bytes: text.len() as u64,
        ..Stats::default()
    })
}

/// Sends the tokens to `base`'s public revoke endpoint, a thousand at a time (its limit per
/// request): `https://` (rustls, with the Mozilla roots built in) or plain `http://`.
pub fn report(base: &str, tokens: &[PlainToken]) -> anyhow::Result<()> {
    let url = format!("{}/api/credentials/revoke", base.trim_end_matches('/'));
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        anyhow::bail!("--report needs an https:// or http:// URL, e.g. https://mantel.example.com");
    }
    for batch in tokens.chunks(1000) {
        let credentials: Vec<&str> = batch.iter().map(PlainToken::expose).collect();
        let answer = ureq::post(&url)
            .timeout(std::time::Duration::from_secs(30))
            .send_json(serde_json::json!({ "credentials": credentials }));
        match answer {
            Ok(res) if res.status() == 202 => {}
            Ok(res) => anyhow::bail!("{url} answered {}", res.status()),
            Err(ureq::Error::Status(code, _)) => anyhow::bail!("{url} answered {code}"),
            Err(e) => anyhow::bail!("cannot reach {url}: {e}"),
        }
    }
    Ok(())
}

/// The whole command: prints each finding on stdout, a summary on stderr; whether any token
/// was found.
pub fn run(paths: &[PathBuf], report_to: Option<&str>) -> anyhow::Result<bool> {
    let mut tokens: Vec<PlainToken> = Vec::new();
    let mut stdout = io::stdout().lock();
    let mut write_error = None;
    let mut found = |f: Found| {
        if let Err(e) = writeln!(stdout, "{}", f.line()) {
            write_error.get_or_insert(e);
        }
        tokens.push(f.token);
    };
    let stats = if paths.is_empty() {
        scan_stdin(&mut found)?
    } else {
        scan_paths(paths, &mut found)?
    };
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let any = !tokens.is_empty();
    eprintln!(
        "mantel scan: {} token(s) in {} file(s), {} bytes ({} binary and {} over 10 MiB skipped)",
        tokens.len(),
        stats.files,
        stats.bytes,
        stats.skipped_binary,
        stats.skipped_large,
    );
    if let Some(base) = report_to {
        tokens.sort_by(|a, b| a.expose().cmp(b.expose()));
        tokens.dedup_by(|a, b| a.expose() == b.expose());
        if !tokens.is_empty() {
            report(base, &tokens)?;
            eprintln!("mantel scan: reported {} token(s) to {base}", tokens.len());
        }
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_up_to_each_token() {
        let a = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp";
        let b = "mm_pat_000000000000000000000000001L1Mwu";
        let text = format!("one\n{a} and {b}\n\nfour {a}\n");
        let mut lines = Vec::new();
        scan_text("f", text.as_bytes(), &mut |f| lines.push(f.line()));
        assert_eq!(
            lines,
            [
                "f:2: mm_pat_AAAA…",
                "f:2: mm_pat_0000…",
                "f:4: mm_pat_AAAA…"
            ]
        );
    }
}
