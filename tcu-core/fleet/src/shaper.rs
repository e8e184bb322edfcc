//! The link of a vehicle that misbehaves during a rollout
//! (`[ota.misbehave] drop_download`, `slow_link`): a relay on loopback
//! between that vehicle's OTA client and the server that cuts the first
//! answer longer than [`DROP_AFTER`] in the middle (once), or passes the
//! server's bytes at a fixed rate. Such a vehicle downloads through its own
//! link instead of the process's shared artifact cache, so that its
//! client's resume and timeouts are what is exercised.
//!
//! Plain `http://` servers only: behind a relay the server's certificate
//! would not match. A server that builds its download links from the
//! request's `Host` (goosebit) sends them through the relay too.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Bytes of one answer after which a dropping link cuts it.
pub const DROP_AFTER: u64 = 64 * 1024;

/// How a vehicle's link misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LinkFault {
    /// The first long answer is cut in the middle.
    DropMidDownload,
    /// The server's bytes arrive at this rate, bytes per second.
    Slow(f64),
}

/// `host:port` of an `http://` URL.
pub fn upstream_of(server: &str) -> Result<String, String> {
    let rest = server.strip_prefix("http://").ok_or_else(|| {
        format!("`{server}`: a misbehaving link needs a plain http:// OTA server")
    })?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(format!("`{server}`: no host"));
    }
    Ok(if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:80")
    })
}

/// Starts the relay to `upstream` for one vehicle; returns its URL
/// (`http://127.0.0.1:PORT` and the server's path).
pub fn start(server: &str, fault: LinkFault) -> Result<String, String> {
    let upstream = upstream_of(server)?;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("link relay: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("link relay: {e}"))?
        .port();
    let dropped = Arc::new(AtomicBool::new(false));
    std::thread::Builder::new()
        .name("tcu-fleet-link".into())
        .spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, dropped) = (upstream.clone(), dropped.clone());
                let _ = std::thread::Builder::new()
                    .name("tcu-fleet-link".into())
                    .spawn(move || relay(client, &upstream, fault, &dropped));
            }
        })
        .map_err(|e| format!("link relay: {e}"))?;
    let path = server
        .strip_prefix("http://")
        .and_then(|r| r.find('/').map(|i| &r[i..]))
        .unwrap_or("");
    Ok(format!("http://127.0.0.1:{port}{path}"))
}

fn relay(client: TcpStream, upstream: &str, fault: LinkFault, dropped: &AtomicBool) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    });
    let (mut from, mut to) = (server, client);
    let mut buf = [0u8; 4096];
    let (start, mut passed) = (Instant::now(), 0u64);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match fault {
            LinkFault::DropMidDownload => {
                if passed + n as u64 > DROP_AFTER && !dropped.swap(true, Ordering::Relaxed) {
                    tracing::info!("misbehaving link: dropping the connection mid-answer");
                    break;
                }
            }
            LinkFault::Slow(rate) => {
                let due = Duration::from_secs_f64((passed + n as u64) as f64 / rate);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        passed += n as u64;
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_of_a_server_url_is_its_host_and_port() {
        assert_eq!(
            upstream_of("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(upstream_of("http://h/hawkbit").unwrap(), "h:80");
        assert!(
            upstream_of("https://h")
                .unwrap_err()
                .contains("plain http://")
        );
    }

    #[test]
    fn a_dropping_link_cuts_the_first_long_answer_only() {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut s in server.incoming().flatten() {
                let _ = s.write_all(&vec![7u8; 200_000]);
            }
        });
        let url = start(&format!("http://{addr}"), LinkFault::DropMidDownload).unwrap();
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        let read_all = || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            out.len()
        };
        let first = read_all();
        assert!(first < 200_000 && first as u64 <= DROP_AFTER, "{first}");
        assert_eq!(read_all(), 200_000, "the link drops once");
    }
}
