//! `tcu ota publish --vet-traces ... --vet-current LIB`: the bundle's
//! library is vetted against the running one on recorded traces before
//! anything reaches the server; a candidate that fails is not published.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tcu_integration_tests::owned::SpawnOwned;
use tcu_integration_tests::process::tcu_command;
use tcu_integration_tests::{fixtures, variants};

/// The scenario library's recorded drive (battery and ABS, 45 s).
fn trace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/traces/demo-cold.trace")
}

fn battery() -> PathBuf {
    fixtures::workspace_plugins_dir().join(tcu_scenario::runner::library_file("battery"))
}

fn package(lib: &Path, out: &Path) {
    let o = tcu_command()
        .args(["ota", "package", "--plugin"])
        .arg(lib)
        .arg("--out")
        .arg(out)
        .output()
        .expect("tcu runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Runs the gated publish against a listener the test holds; the exit
/// status, stderr, and whether anything connected to the "server".
fn publish(bundle: &Path) -> (bool, String, bool) {
    let server = TcpListener::bind("127.0.0.1:0").expect("listener");
    server.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", server.local_addr().expect("addr"));
    let mut child = tcu_command()
        .args([
            "ota",
            "publish",
            "--server",
            &url,
            "--device",
            "WTCUZ0000TF000001",
        ])
        .arg("--bundle")
        .arg(bundle)
        .arg("--vet-traces")
        .arg(trace())
        .arg("--vet-current")
        .arg(battery())
        .env("TCU_OTA_PASSWORD", "not-used-before-vetting")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn_owned()
        .expect("tcu runs");
    let end = Instant::now() + Duration::from_secs(120);
    let mut contacted = false;
    loop {
        if let Ok((conn, _)) = server.accept() {
            contacted = true;
            drop(conn);
        }
        if child.try_wait().expect("wait").is_some() || Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        contacted,
    )
}

#[test]
fn a_bundle_whose_library_fails_vetting_is_not_published_and_one_that_passes_is() {
    let dir = tempfile::tempdir().expect("tmp");
    let nan =
        variants::battery_variant("canary_nan", &dir.path().join("nan").join("libbattery.so"));
    let bad = dir.path().join("bad.swu");
    package(&nan, &bad);
    let (ok, err, contacted) = publish(&bad);
    assert!(!ok, "{err}");
    assert!(err.contains("not published"), "{err}");
    assert!(err.contains("nan"), "the report names the reason: {err}");
    assert!(
        !contacted,
        "the server was contacted before vetting refused: {err}"
    );

    let same_dir = dir.path().join("same");
    std::fs::create_dir_all(&same_dir).expect("dir");
    let same = same_dir.join(battery().file_name().expect("a file name"));
    std::fs::copy(battery(), &same).expect("copy");
    let good = dir.path().join("good.swu");
    package(&same, &good);
    let (_, err, contacted) = publish(&good);
    assert!(err.contains("vetting passed"), "{err}");
    assert!(
        contacted,
        "a candidate that passes goes to the server: {err}"
    );
}

#[test]
fn the_gate_refuses_a_bundle_that_is_not_one_library_naming_the_bundle() {
    let dir = tempfile::tempdir().expect("tmp");
    let junk = dir.path().join("junk.swu");
    std::fs::write(&junk, b"not a cpio archive").expect("write");
    let (ok, err, contacted) = publish(&junk);
    assert!(!ok && !contacted, "{err}");
    assert!(
        err.contains("not published: vetting") && err.contains("junk.swu"),
        "{err}"
    );
}
