//! The CPU part of the bearer hot path, without the network or the database: what a request
//! costs before its one lookup (`cargo bench --bench token`).

use criterion::{criterion_group, criterion_main, Criterion};
use mantel::domain::token::PlainToken;
use std::hint::black_box;

/// A SPEC test vector, so the numbers are about the same input everywhere.
const TOKEN: &str = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlp";
const BAD_CHECKSUM: &str = "mm_pat_AAAAAAAAAAAAAAAAAAAAAAAAAA2dbXlq";

fn token(c: &mut Criterion) {
    c.bench_function("parse (format + checksum)", |b| {
        b.iter(|| PlainToken::parse(black_box(TOKEN)).is_ok())
    });
    c.bench_function("parse, bad checksum", |b| {
        b.iter(|| PlainToken::parse(black_box(BAD_CHECKSUM)).is_err())
    });
    let plain = PlainToken::parse(TOKEN).unwrap();
    c.bench_function("blake3 hash", |b| b.iter(|| black_box(&plain).hash()));
    c.bench_function("parse + hash (the whole check)", |b| {
        b.iter(|| PlainToken::parse(black_box(TOKEN)).map(|t| t.hash()))
    });
}

criterion_group!(benches, token);
criterion_main!(benches);
