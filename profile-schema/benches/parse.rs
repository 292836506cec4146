//! Parsing a realistic ~4 KB profile (the full fixture: 44 keys, UI text,
//! unknown vendor keys), plus lint and write for scale.
//! Run: `cargo bench -p profile-schema --bench parse`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use profile_schema::Profile;

const FULL: &str = include_str!("../tests/fixtures/full.xml");

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("profile");
    g.throughput(Throughput::Bytes(FULL.len() as u64));
    g.bench_function("parse_full_4k", |b| {
        b.iter(|| Profile::parse(black_box(FULL)).map(|l| l.profile.entries().len()))
    });
    let profile = Profile::parse(FULL).map(|l| l.profile).unwrap_or_default();
    g.bench_function("lint_full", |b| b.iter(|| black_box(&profile).lint().len()));
    g.bench_function("write_full", |b| {
        b.iter(|| black_box(&profile).to_xml().len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
