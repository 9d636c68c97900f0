//! Benchmarks for the watch: ingest and judge.

fn main() {}
