type ParseResult = Option<u32>;

#[heartbeat::outcome]
fn parse() -> ParseResult {
    Some(1)
}

fn main() {
    let _ = parse();
}
