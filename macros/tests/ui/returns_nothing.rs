#[heartbeat::outcome]
fn ping() {}

fn main() {
    ping();
}
