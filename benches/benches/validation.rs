//! Benchmarks of orchestra-api's validation hot paths: `cargo bench -p orchestra-benches --bench validation`.
//!
//! (Being written.)
use criterion::{Criterion, criterion_group, criterion_main};

fn validation(c: &mut Criterion) {
    c.bench_function("validation_noop", |b| {
        b.iter(|| std::hint::black_box(1 + 1))
    });
}

criterion_group!(benches, validation);
criterion_main!(benches);
