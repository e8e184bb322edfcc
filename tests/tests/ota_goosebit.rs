//! End to end against goosebit (a real DDI server from PyPI): the simulated
//! vehicle registers by polling, a signed battery v2 is packaged with
//! `tcu ota package` and published with `tcu ota publish`, the TCU
//! downloads, verifies, swaps and reports success after probation, and
//! goosebit shows the device finished on the new version.
//!
//! Needs the virtual environment `scripts/test` creates; without it the
//! test says so and passes, unless `TCU_REQUIRE_GOOSEBIT=1` (set by
//! `scripts/test`), where a missing environment is a failure.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tcu_integration_tests::goosebit::{self, Goosebit};
use tcu_integration_tests::process::Running;
use tcu_integration_tests::{fixtures, variants};
use tcu_ota_client::publish::{self, ManagementApi};

const VIN: &str = "WTCUZ000000000001";

fn tcu() -> Command {
    let exe = fixtures::workspace_plugins_dir().join("tcu");
    let mut cmd = Command::new(exe);
    cmd.env_remove("RUST_LOG")
        .env_remove("TCU_OTA_SERVER")
        .env("NO_COLOR", "1");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?}:\n{text}");
    text
}

fn device(gb: &Goosebit) -> Result<publish::DeviceStatus, String> {
    let mut api = publish::Goosebit::login(gb.url(), goosebit::USER, goosebit::PASSWORD)
        .map_err(|e| e.to_string())?;
    api.device(VIN).map_err(|e| e.to_string())
}

fn wait_device(
    gb: &Goosebit,
    tcu: &Running,
    what: &str,
    ok: impl Fn(&publish::DeviceStatus) -> bool,
) -> publish::DeviceStatus {
    let start = Instant::now();
    loop {
        if let Ok(d) = device(gb)
            && ok(&d)
        {
            return d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "goosebit never showed the device {what}: {:?}\nTCU:\n{}\ngoosebit:\n{}",
            device(gb),
            tcu.output(),
            gb.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn keygen(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    run_ok(tcu().args(["plugin", "keygen"]).current_dir(dir));
    (dir.join("tcu-signing.key"), dir.join("tcu-signing.pub"))
}

#[test]
fn goosebit_rollout_of_a_signed_battery_v2_finishes_on_the_new_version() {
    let Some(gb) = Goosebit::start() else {
        assert!(
            std::env::var_os("TCU_REQUIRE_GOOSEBIT").is_none(),
            "TCU_REQUIRE_GOOSEBIT is set but the goosebit virtual environment is missing"
        );
        eprintln!("SKIPPED: no goosebit virtual environment (run scripts/test to create it)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keygen(&tmp.path().join("keys"));
    let v2 = variants::battery_variant("v2", &tmp.path().join("v2/libbattery.so"));
    run_ok(tcu().args(["plugin", "sign", "--key"]).arg(&key).arg(&v2));

    let config = tmp.path().join("tcu.toml");
    std::fs::write(
        &config,
        format!(
            "[hotswap]\ncanary_ticks = 20\nprobation = \"2s\"\ntrusted_keys = [\"{}\"]\n\n[ota]\naction_poll_interval = \"500ms\"\n",
            public.display()
        ),
    )
    .unwrap();
    let mut cmd = tcu();
    cmd.args(["run", "--headless", "--config"])
        .arg(&config)
        .arg("--store")
        .arg(tmp.path().join("store"))
        .args(["--ota-server", gb.url(), "--ota-poll", "500ms"]);
    let tcu_run = Running::start(cmd);

    // The vehicle registers by polling and sending its configData.
    wait_device(&gb, &tcu_run, "registered", |d| {
        d.last_state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("registered"))
    });

    let bundle = tmp.path().join("battery-2.0.0.swu");
    let out = run_ok(
        tcu()
            .args(["ota", "package", "--plugin"])
            .arg(&v2)
            .arg("--out")
            .arg(&bundle),
    );
    assert!(out.contains("battery 2.0.0, signed"), "{out}");
    run_ok(
        tcu()
            .args(["ota", "publish", "--server", gb.url(), "--bundle"])
            .arg(&bundle)
            .args(["--device", VIN])
            .env("TCU_OTA_USER", goosebit::USER)
            .env("TCU_OTA_PASSWORD", goosebit::PASSWORD),
    );

    let d = wait_device(&gb, &tcu_run, "finished on 2.0.0", |d| {
        d.sw_version.as_deref() == Some("2.0.0")
            && d.last_state
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("finished"))
    });
    assert_eq!(d.id, VIN);
    // The swap happened in the running vehicle, and passed probation before
    // goosebit heard of success.
    tcu_run.wait_for("battery 1.0.0 -> 2.0.0", Duration::from_secs(1));
    tcu_run.wait_for("battery 2.0.0 passed probation", Duration::from_secs(1));
    let out = tcu_run.output();
    let probation = out.find("battery 2.0.0 passed probation").unwrap();
    let success = out
        .find("state=Succeeded")
        .unwrap_or_else(|| panic!("no success logged:\n{out}"));
    assert!(
        probation < success,
        "success reported after probation:\n{out}"
    );
}
