//! Every form the attribute takes: sync and async, an alias of `Result`, a method, a generic
//! function, borrowed arguments and results, `?` with a conversion.
use heartbeat::OutcomeReason;

#[derive(Debug, OutcomeReason)]
enum SendError {
    TimedOut,
    Rejected(#[allow(dead_code)] u16),
}

impl From<std::num::ParseIntError> for SendError {
    fn from(_: std::num::ParseIntError) -> Self {
        SendError::Rejected(400)
    }
}

#[heartbeat::outcome("message.send")]
fn send(text: &str) -> Result<u16, SendError> {
    let n: u16 = text.parse()?;
    if n == 0 {
        return Err(SendError::TimedOut);
    }
    Ok(n)
}

#[heartbeat::outcome(name = "reply.fetch")]
async fn fetch<'a>(cache: &'a [String]) -> std::io::Result<&'a str> {
    cache.first().map(String::as_str).ok_or_else(|| std::io::Error::other("empty"))
}

#[heartbeat::outcome]
fn generic<T: Default>(ok: bool) -> Result<T, SendError> {
    if ok { Ok(T::default()) } else { Err(SendError::TimedOut) }
}

struct Client;

impl Client {
    #[heartbeat::outcome("client.call")]
    fn call(&self, n: u8) -> Result<u8, String> {
        Ok(n)
    }

    #[heartbeat::outcome("client.make")]
    fn make() -> Result<Self, String> {
        Ok(Client)
    }
}

fn main() {
    heartbeat::set_global_registry(heartbeat::Registry::new()).unwrap();
    assert_eq!(send("7").unwrap(), 7);
    assert!(send("x").is_err());
    let _ = fetch(&[]);
    let _: Result<u8, _> = generic(true);
    let c = Client::make().unwrap();
    assert_eq!(c.call(3).unwrap(), 3);
    assert_eq!(SendError::TimedOut.reason(), "timed_out");
}
