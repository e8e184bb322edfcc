//! The client's waker: a client that the server told to sleep an hour polls
//! again as soon as it is woken, and stops promptly when asked to.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tcu_ota_client::{Client, ClientConfig, InstallError, Installer};

/// Never called: the server offers nothing.
struct NoInstall;

impl Installer for NoInstall {
    fn install(
        &mut self,
        _chunks: Vec<(String, PathBuf)>,
    ) -> Result<Vec<(String, String)>, InstallError> {
        Err(InstallError::Failed("nothing to install".into()))
    }

    fn installed_versions(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// A DDI root that always says "sleep one hour"; counts the polls. Stops
/// accepting when `stop` is set.
fn serve(polls: Arc<AtomicUsize>, stop: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            polls.fetch_add(1, Ordering::SeqCst);
            let body = r#"{"config":{"polling":{"sleep":"01:00:00"}},"_links":{}}"#;
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not within 20 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_client_sleeping_the_servers_hour_polls_again_when_woken() {
    let polls = Arc::new(AtomicUsize::new(0));
    let server_stop = Arc::new(AtomicBool::new(false));
    let url = serve(polls.clone(), server_stop.clone());
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ClientConfig::new(&url, "DEFAULT", "WTCUZ000000000001", tmp.path().into());
    let mut client = Client::new(cfg, NoInstall).unwrap();
    let waker = client.waker();
    let stop = Arc::new(AtomicBool::new(false));
    let run = {
        let stop = stop.clone();
        std::thread::spawn(move || client.run(&stop))
    };

    wait_until("first poll", || polls.load(Ordering::SeqCst) == 1);
    // The server said one hour: nothing more comes by itself.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(polls.load(Ordering::SeqCst), 1);

    waker.poll_now();
    wait_until("poll after the wake", || polls.load(Ordering::SeqCst) == 2);
    waker.clone().poll_now();
    wait_until("poll after a second wake", || {
        polls.load(Ordering::SeqCst) == 3
    });

    stop.store(true, Ordering::Relaxed);
    run.join().unwrap();
    server_stop.store(true, Ordering::Relaxed);
    assert_eq!(polls.load(Ordering::SeqCst), 3, "one poll per wake");
}
