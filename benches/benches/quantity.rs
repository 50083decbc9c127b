//! Benchmarks of orchestra-api's quantity hot paths: `cargo bench -p orchestra-benches --bench quantity`.
//!
//! (Being written.)
use criterion::{Criterion, criterion_group, criterion_main};

fn quantity(c: &mut Criterion) {
    c.bench_function("quantity_noop", |b| b.iter(|| std::hint::black_box(1 + 1)));
}

criterion_group!(benches, quantity);
criterion_main!(benches);
