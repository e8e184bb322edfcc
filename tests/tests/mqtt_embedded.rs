//! `tcu run` with no broker configured: it starts the embedded broker on
//! loopback, logs the address, and a plain MQTT client sees the car there
//! and can command it. No mosquitto involved.

use serde_json::json;
use std::time::Duration;
use tcu_integration_tests::mqtt::{Subscriber, spawn_tcu_embedded, spawn_tcu_run};

const VIN: &str = "WTCUZ000000000001";

#[test]
fn the_embedded_broker_serves_telemetry_status_and_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (tcu, port) = spawn_tcu_embedded(dir.path());
    let sub = Subscriber::connect(port, "t-embedded", "vehicle/#", true);
    let tel = format!("vehicle/{VIN}/telemetry");
    let msgs = sub.collect(&tel, Duration::from_secs(20), |m| m.len() >= 3);
    assert!(msgs.len() >= 3, "{}", tcu.output());
    assert_eq!(
        msgs[1]["seq"].as_u64().unwrap(),
        msgs[0]["seq"].as_u64().unwrap() + 1
    );
    assert!(msgs[0]["signals"]["Vehicle.Speed"].is_number());

    let setpoint = "Vehicle.Cabin.HVAC.Station.Row2.Driver.Temperature";
    sub.publish(
        &format!("vehicle/{VIN}/cmd/req"),
        json!({"id": "e1", "set": {setpoint: 24.0}}).to_string(),
    );
    let res = sub.collect(
        &format!("vehicle/{VIN}/cmd/res"),
        Duration::from_secs(10),
        |m| !m.is_empty(),
    );
    assert_eq!(
        res.first(),
        Some(&json!({"id": "e1", "status": "accepted"})),
        "{}",
        tcu.output()
    );
    let later = sub.collect(&tel, Duration::from_secs(10), |m| {
        m.last()
            .is_some_and(|t| t["signals"][setpoint] == json!(24.0))
    });
    assert_eq!(
        later.last().map(|t| t["signals"][setpoint].clone()),
        Some(json!(24.0))
    );
}

#[test]
fn a_bad_broker_url_or_an_unreadable_certificate_stops_the_run_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let exe = tcu_integration_tests::fixtures::workspace_plugins_dir().join("tcu");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&exe)
            .args(["run", "--headless", "--duration", "1s"])
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&["--broker", "http://127.0.0.1:1883"]);
    assert!(
        e.contains("mqtt.broker") && e.contains("unknown scheme `http`"),
        "{e}"
    );
    let conf = dir.path().join("tls.toml");
    let missing = dir.path().join("missing-ca.pem");
    std::fs::write(
        &conf,
        format!("[mqtt]\nca_file = \"{}\"\n", missing.display()),
    )
    .unwrap();
    let e = run(&[
        "--config",
        conf.to_str().unwrap(),
        "--broker",
        "mqtts://127.0.0.1:8883",
    ]);
    assert!(
        e.contains("CA certificate") && e.contains("missing-ca.pem"),
        "{e}"
    );
}

#[test]
fn a_healthy_run_with_the_embedded_broker_logs_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[mqtt]\nembedded_listen = \"127.0.0.1:0\"\noutbox_dir = \"{}\"\n",
        dir.path().join("outbox").display()
    );
    let mut tcu = spawn_tcu_run(dir.path(), &config, &["--duration", "3s"]);
    let status = tcu.wait_exit(Duration::from_secs(30));
    let out = tcu.output();
    assert!(status.success(), "{out}");
    assert!(
        out.contains("MQTT connected"),
        "the link never connected:\n{out}"
    );
    let errors: Vec<&str> = out.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(
        errors.is_empty(),
        "a healthy run logged errors: {errors:#?}"
    );
}
