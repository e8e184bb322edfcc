//! The tiny HTTP/1.1 server side the fakes share: one request per
//! connection (`Connection: close`), read whole (head and a
//! `Content-Length` body), answered with a status, headers and a body.

// Test helper: a failed socket call should panic.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A request as read.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// Body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// Reads one request from `stream` (10 s read timeout); `None` when the
/// client sent nothing.
pub fn read_request(stream: &TcpStream) -> Option<Incoming> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = reader.read_exact(&mut body);
    Some(Incoming {
        method,
        path,
        headers,
        body,
    })
}

/// Answers `status` with `headers` and `body`.
pub fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// Answers `status` with `v` as JSON.
pub fn json_response(stream: &mut TcpStream, status: u16, v: &Value) {
    respond(
        stream,
        status,
        &[("Content-Type", "application/json".into())],
        v.to_string().as_bytes(),
    );
}
