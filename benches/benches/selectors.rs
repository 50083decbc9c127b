//! Benchmarks of orchestra-api's selectors hot paths: `cargo bench -p orchestra-benches --bench selectors`.
//!
//! (Being written.)
use criterion::{Criterion, criterion_group, criterion_main};

fn selectors(c: &mut Criterion) {
    c.bench_function("selectors_noop", |b| b.iter(|| std::hint::black_box(1 + 1)));
}

criterion_group!(benches, selectors);
criterion_main!(benches);
