//! The Debian package as `scripts/package-deb` builds it: unpacked with
//! `dpkg-deb -x`, it holds the binary, the six plugins, the default
//! configuration, the unit and its user, completions and the man page; the
//! packaged binary, run with the unit's `ExecStart` line (minus systemd)
//! and the packaged configuration, publishes to mosquitto, keeps its state
//! in `$STATE_DIRECTORY` and stops cleanly on SIGTERM; the unit passes
//! `systemd-analyze verify` where systemd is installed.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tcu_integration_tests::fixtures;
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available};
use tcu_integration_tests::process::Running;

/// Builds the package from the test build's binaries and unpacks it.
fn build_and_unpack(tmp: &Path) -> (PathBuf, PathBuf) {
    let bins = fixtures::workspace_plugins_dir();
    let out = tmp.join("deb");
    let script = fixtures::workspace_root().join("scripts/package-deb");
    let built = Command::new(&script)
        .arg("--from")
        .arg(&bins)
        .arg("--out")
        .arg(&out)
        .arg("--fast")
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let deb = PathBuf::from(String::from_utf8(built.stdout).unwrap().trim());
    assert!(deb.is_file(), "{}", deb.display());
    let root = tmp.join("root");
    let x = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&root)
        .status()
        .unwrap();
    assert!(x.success());
    (deb, root)
}

/// The unit's `ExecStart` words, with every absolute path that the package
/// holds moved under `root`.
fn exec_start(unit: &str, root: &Path) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart in the unit");
    line.split_whitespace()
        .map(|w| {
            let inside = root.join(w.trim_start_matches('/'));
            if w.starts_with('/') && inside.exists() {
                inside.display().to_string()
            } else {
                w.to_owned()
            }
        })
        .collect()
}

#[test]
fn the_package_installs_a_service_that_runs_with_its_own_configuration() {
    assert!(mosquitto_available(), "mosquitto is not installed");
    let tmp = tempfile::tempdir().unwrap();
    let (deb, root) = build_and_unpack(tmp.path());

    // Its architecture follows the target it was built for.
    let arch = Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Architecture")
        .output()
        .unwrap();
    let expected = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(String::from_utf8_lossy(&arch.stdout).trim(), expected);

    for file in [
        "usr/bin/tcu",
        "etc/tcu/tcu.toml",
        "lib/systemd/system/tcu.service",
        "usr/lib/sysusers.d/tcu.conf",
        "usr/share/man/man1/tcu.1.gz",
        "usr/share/bash-completion/completions/tcu",
        "usr/share/zsh/vendor-completions/_tcu",
        "usr/share/fish/vendor_completions.d/tcu.fish",
    ] {
        assert!(root.join(file).is_file(), "{file} missing from the package");
    }
    for name in fixtures::WORKSPACE_PLUGIN_FILES {
        let p = root.join("usr/lib/tcu/plugins").join(name);
        assert!(p.is_file(), "{} missing", p.display());
    }
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/tcu.service")).unwrap();
    for option in [
        "Type=notify",
        "WatchdogSec=",
        "StateDirectory=tcu",
        "User=tcu",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
    ] {
        assert!(unit.contains(option), "{option} missing from the unit");
    }

    // The packaged configuration is valid.
    let tcu = root.join("usr/bin/tcu");
    let check = Command::new(&tcu)
        .args(["config", "check"])
        .arg(root.join("etc/tcu/tcu.toml"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    // The unit's command line, against mosquitto, with the variables
    // systemd sets for a notify service with a state directory.
    let broker = Mosquitto::start(tmp.path(), "");
    let sub = Subscriber::connect(broker.port, "t-deb", "vehicle/+/telemetry", true);
    let words = exec_start(&unit, &root);
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let notify_path = tmp.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..])
        .env_remove("RUST_LOG")
        .env_remove("TCU_OTA_SERVER")
        .env("TCU_BROKER", format!("mqtt://127.0.0.1:{}", broker.port))
        .env("STATE_DIRECTORY", &state)
        .env("INVOCATION_ID", "0123456789abcdef")
        .env("NOTIFY_SOCKET", &notify_path);
    let mut running = Running::start(cmd);
    let mut buf = [0u8; 256];
    let n = notify
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no READY=1: {e}\n{}", running.output()));
    assert!(buf[..n].starts_with(b"READY=1"));
    let msgs = sub.collect(
        "vehicle/WTCUZ000000000001/telemetry",
        Duration::from_secs(30),
        |m| m.len() >= 3,
    );
    assert!(msgs.len() >= 3, "telemetry: {msgs:?}\n{}", running.output());
    // All six packaged plugins loaded.
    running.wait_for("plugins=6/6", Duration::from_secs(30));
    let pid = libc::pid_t::try_from(running.id()).unwrap();
    // SAFETY: kill(2) with a PID this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = running.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", running.output());
    assert!(
        state.join("outbox").is_dir(),
        "the outbox is not in $STATE_DIRECTORY:\n{}",
        running.output()
    );
    assert!(
        state.join("store").is_dir(),
        "the store is not in $STATE_DIRECTORY:\n{}",
        running.output()
    );

    // systemd's own check of the unit (its command pointed at the package).
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    if analyze.is_err() {
        eprintln!(
            "systemd-analyze is not installed: the unit was not verified (scripts/test installs systemd)"
        );
        return;
    }
    let copy = tmp.path().join("tcu.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/bin/tcu", &tcu.display().to_string()),
    )
    .unwrap();
    let mut verify = Command::new("systemd-analyze");
    verify.arg("verify");
    if Command::new("man").arg("--version").output().is_ok() {
        // Documentation=man:tcu(1) is looked up in the packaged man page.
        verify.env("MANPATH", root.join("usr/share/man"));
    } else {
        verify.arg("--man=no");
    }
    let out = verify.arg(&copy).output().unwrap();
    assert!(out.status.success(), "systemd-analyze verify: {out:?}");
    assert!(
        out.stderr.is_empty(),
        "systemd-analyze verify warned: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
