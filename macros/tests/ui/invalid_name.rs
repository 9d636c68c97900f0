#[heartbeat::outcome("9lives")]
fn lives() -> Result<(), String> {
    Ok(())
}

#[heartbeat::outcome]
fn _private() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = lives();
    let _ = _private();
}
