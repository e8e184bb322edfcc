//! Download throughput of a 50 MiB artifact on loopback: the OTA client's
//! `download::fetch` (streamed to a `.part` file, sha256 verified on a
//! second thread, fsync, renamed) beside `curl` fetching the same file from
//! the same server in the same run (written to disk, no hash check).
//!
//! Both are timed alike, from the request to the last byte on disk with
//! nothing of process start-up in it: the client by the wall time of
//! `fetch`, curl by its own `%{time_total}` (name lookup, connect, transfer;
//! its process start and exit are outside). Rounds alternate between the
//! two; the medians and the median of the per-round ratios are printed, in
//! MiB/s (2^20 bytes per second).
//!
//! `cargo bench -p tcu-ota-client --bench download`

// Bench binary: a failed setup step should abort with its error.
#![allow(clippy::unwrap_used)]

use sha2::Digest;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tcu_ota_client::backoff::Jitter;
use tcu_ota_client::ddi::Hashes;
use tcu_ota_client::download::{self, Expected, Limits};
use tcu_ota_client::http::{Auth, Http};

const SIZE: usize = 50 * 1024 * 1024;
const ROUNDS: usize = 15;

/// A static file server: every GET gets the whole file.
fn serve(data: Arc<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/artifact.bin", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let data = data.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    data.len()
                );
                let _ = stream.write_all(head.as_bytes());
                for chunk in data.chunks(1 << 20) {
                    if stream.write_all(chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn mib_per_s(seconds: f64) -> f64 {
    SIZE as f64 / (1024.0 * 1024.0) / seconds
}

/// One curl download of `url` to `dest`; curl's own `time_total`.
fn curl(url: &str, dest: &Path) -> f64 {
    let out = std::process::Command::new("curl")
        .args(["-s", "-f", "-o"])
        .arg(dest)
        .args(["-w", "%{time_total}"])
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "curl failed: {out:?}");
    assert_eq!(std::fs::metadata(dest).unwrap().len(), SIZE as u64);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn main() {
    let data: Vec<u8> = (0..SIZE)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    let sha256 = hex::encode(sha2::Sha256::digest(&data));
    let url = serve(Arc::new(data));
    let dir = tempfile::tempdir().unwrap();
    let http = Http::new(&url, &Auth::None, None, Duration::from_secs(30)).unwrap();
    let limits = Limits::default();
    let expected = Expected {
        size: Some(SIZE as u64),
        hashes: Hashes {
            sha256: Some(sha256),
            ..Default::default()
        },
    };
    let curl_ok = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load.trim());

    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let dest = dir.path().join(format!("ours-{i}.bin"));
        let t = Instant::now();
        download::fetch(
            &http,
            &url,
            &dest,
            &expected,
            &limits,
            &mut Jitter::new(1),
            &mut |_, _| {},
            &|| false,
        )
        .unwrap();
        let our_rate = mib_per_s(t.elapsed().as_secs_f64());
        ours.push(our_rate);
        remove(&dest);

        if curl_ok {
            let dest = dir.path().join(format!("curl-{i}.bin"));
            let curl_rate = mib_per_s(curl(&url, &dest));
            theirs.push(curl_rate);
            ratios.push(our_rate / curl_rate);
            remove(&dest);
            println!("round {i}: ota-client {our_rate:7.1} MiB/s, curl {curl_rate:7.1} MiB/s");
        }
    }
    println!(
        "ota-client fetch (sha256 verified): {:8.1} MiB/s (median of {ROUNDS}, 50 MiB, loopback)",
        median(ours)
    );
    if curl_ok {
        println!(
            "curl -o, time_total (no hash):      {:8.1} MiB/s (median of {ROUNDS})",
            median(theirs)
        );
        println!(
            "ratio ota-client / curl:            {:8.2} (median of the per-round ratios)",
            median(ratios)
        );
    } else {
        println!("curl not found: no comparison");
    }
}

fn remove(p: &Path) {
    let _ = std::fs::remove_file(p);
}
