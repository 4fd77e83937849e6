//! HTTP by hand, for what a well-behaved client never sends: a head whose body stalls, a
//! report without its body.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends `request` (a head, perhaps part of a body) to the server at `address`
/// (`http://host:port`), and reads until the server closes the connection: the text read, or
/// an error when `wait` passed first (a server still waiting for the rest of the body).
pub async fn exchange(address: &str, request: &[u8], wait: Duration) -> std::io::Result<String> {
    let host = address.trim_start_matches("http://").to_owned();
    let request = request.to_vec();
    actix_web::rt::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&host)?;
        stream.set_read_timeout(Some(wait))?;
        stream.write_all(&request)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    })
    .await
    .expect("the exchange ran")
}
