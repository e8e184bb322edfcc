//! Access to the twin's API: it refuses to listen beyond loopback without
//! tokens; with tokens, a request without one gets 401 and a read-only
//! token cannot change desired state (403); it serves HTTPS and reads a
//! broker over mutual TLS when configured to.

use serde_json::json;
use std::time::Duration;
use tcu_integration_tests::mqtt::{Mosquitto, free_port, make_pki, mosquitto_available};
use tcu_integration_tests::process::Running;
use tcu_integration_tests::twin::{Rig, Twin, VINS, spawn_vehicle, twin_command};

const READ: &str = "reader-token-0123456789abcdef";
const WRITE: &str = "writer-token-0123456789abcdef";

#[test]
fn bound_to_a_non_loopback_address_the_twin_refuses_to_start_without_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = twin_command();
    cmd.args([
        "serve",
        "--http",
        &format!("0.0.0.0:{}", free_port()),
        "--db",
    ])
    .arg(dir.path().join("t.db"));
    let mut twin = Running::start(cmd);
    let status = twin.wait_exit(Duration::from_secs(20));
    assert!(!status.success(), "it started:\n{}", twin.output());
    let out = twin.output();
    assert!(
        out.contains("http.listen") && out.contains("not a loopback address"),
        "{out}"
    );
    assert!(
        !dir.path().join("t.db").exists(),
        "it refused before opening anything"
    );
}

#[test]
fn without_a_token_requests_get_401_and_a_read_only_token_on_patch_gets_403() {
    let env = [
        ("TCU_TWIN_READ_TOKENS", READ),
        ("TCU_TWIN_WRITE_TOKENS", WRITE),
    ];
    let mut rig = Rig::start("", &env, Some(READ));
    let vin = VINS[0];
    let doc = format!("/api/vehicles/{vin}");
    assert_eq!(rig.twin.get(&doc).status, 200, "a read-only token reads");
    assert_eq!(rig.twin.get("/metrics").status, 200);
    let fan = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
    let p = rig.twin.patch(vin, &json!({fan: 50}), None).problem(403);
    assert_eq!(p["field"], "Authorization");
    rig.twin.token = None;
    for path in [doc.as_str(), "/api/vehicles", "/metrics", "/api/stream"] {
        rig.twin.get(path).problem(401);
    }
    rig.twin.patch(vin, &json!({fan: 50}), None).problem(401);
    rig.twin.token = Some("not-one-of-the-tokens-at-all".into());
    rig.twin.get(&doc).problem(401);
    // The page and the API description stay public.
    rig.twin.token = None;
    assert_eq!(rig.twin.get("/").status, 200);
    assert_eq!(rig.twin.get("/api/openapi.json").status, 200);
    rig.twin.token = Some(WRITE.into());
    let r = rig.twin.patch(vin, &json!({fan: 50}), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let out = rig.twin.process.output();
    assert!(
        !out.contains(READ) && !out.contains(WRITE),
        "a token reached the log:\n{out}"
    );
}

#[test]
fn over_tls_the_twin_reads_a_mutual_tls_broker_and_serves_https() {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed; ./scripts/test installs it"
    );
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let tls_port = free_port();
    let broker = Mosquitto::start(
        dir.path(),
        &format!(
            "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
            pki.ca.display(),
            pki.server.0.display(),
            pki.server.1.display()
        ),
    );
    let config = format!(
        "[ingest]\nbroker = \"mqtts://127.0.0.1:{tls_port}\"\nclient_id = \"twin-tls\"\nca_file = \"{}\"\n\
         cert_file = \"{}\"\nkey_file = \"{}\"\n[store]\npath = \"{}\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        pki.ca.display(),
        pki.client.0.display(),
        pki.client.1.display(),
        dir.path().join("tls.db").display(),
        pki.server.0.display(),
        pki.server.1.display()
    );
    let mut twin = Twin::start(dir.path(), "twin-tls", &config, &[]);
    assert!(twin.url.starts_with("https://"), "{}", twin.url);
    twin.trust(&pki.ca);
    // The car publishes on the plain listener; the twin reads it over TLS.
    let _car = spawn_vehicle(dir.path(), VINS[0], broker.port, "");
    twin.wait_doc(VINS[0], Duration::from_secs(60), "online over TLS", |d| {
        d["connectivity"] == "online" && d["loss"]["received"].as_u64() >= Some(2)
    });
    // Plain HTTP gets no answer from the TLS listener.
    let plain = reqwest::blocking::Client::new()
        .get(twin.url.replace("https://", "http://") + "/api/vehicles")
        .timeout(Duration::from_secs(5))
        .send();
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
}
