#[derive(Debug, heartbeat::OutcomeReason)]
enum FetchError {
    Über,
}

fn main() {}
