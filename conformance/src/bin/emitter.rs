//! `heartbeat-conformance-emitter`: the Rust SDK as a separate process for the `native-bin`
//! target. Configured by the standard `OTEL_*` variables (and `HEARTBEAT_CONFORMANCE_TENANT_LIMIT`),
//! it speaks the emitter protocol of `docs/conformance.md` on standard input and output.

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = heartbeat_conformance::target::serve_stdio().await {
        eprintln!("heartbeat-conformance-emitter: {e}");
        std::process::exit(1);
    }
}
