#[heartbeat::outcome("answer.compute")]
fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
