//! Tests of configuration layering and validation.

use super::*;
use std::io::Write;
use std::time::Duration;
use tcu_engine::catalog::Value;
use tcu_engine::world::driver::DriverProfile;

fn catalog() -> Catalog {
    Catalog::builtin()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn default_config_is_valid() {
    let c = Config::build(
        None,
        &Overrides::default(),
        &Overrides::default(),
        &catalog(),
    )
    .unwrap();
    assert_eq!(c.vehicle.tick_rate_hz, 100.0);
    assert_eq!(c.vehicle.status_interval, Duration::from_secs(1));
    assert_eq!(
        c.vehicle.signals.get("Vehicle.ADAS.ABS.IsEnabled"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn layers_apply_in_order_file_env_cli() {
    let f = file(
        "[vehicle]\nseed = 5\nvin = \"WFXLE000000000001\"\n[signals]\n\"Sim.Environment.AirTemperature\" = -10.0\n",
    );
    let env = Overrides {
        vehicle: VehicleOverrides {
            seed: Some(6),
            ..Default::default()
        },
        ..Default::default()
    };
    let cli = Overrides {
        vehicle: VehicleOverrides {
            vin: Some("WCLX0000000000001".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let c = Config::build(Some(f.path()), &env, &cli, &catalog()).unwrap();
    assert_eq!(c.vehicle.seed, 6);
    assert_eq!(c.vehicle.vin, "WCLX0000000000001");
    assert_eq!(
        c.vehicle.signals["Sim.Environment.AirTemperature"],
        Value::Float(-10.0)
    );
    // Untouched defaults survive.
    assert_eq!(
        c.vehicle.signals["Sim.Environment.RoadFriction"],
        Value::Float(0.9)
    );
}

#[test]
fn bad_files_name_the_file_and_the_field() {
    let cat = catalog();
    let none = Overrides::default();
    let cases = [
        ("[vehicle]\nseed = \"x\"\n", "line 2"),
        ("[vehicle]\ncolour = 1\n", "unknown field `colour`"),
        ("[signals]\n\"Vehicle.Speed\" = 3.0\n", "only actuators"),
        (
            "[signals]\n\"Vehicle.Nope\" = 3.0\n",
            "not a signal of the catalog",
        ),
        (
            "[signals]\n\"Sim.Environment.RoadFriction\" = 3.0\n",
            "outside",
        ),
        (
            "[signals]\n\"Vehicle.ADAS.ABS.IsEnabled\" = 1\n",
            "expected a boolean",
        ),
        (
            "[signals]\n\"Vehicle.ADAS.ABS.IsEnabled\" = \"yes\"\n",
            "expected a number or a boolean",
        ),
        ("[vehicle]\nvin = \"SHORT\"\n", "vehicle.vin"),
        ("[vehicle]\ntick_rate_hz = 0.0\n", "vehicle.tick_rate_hz"),
        ("[run]\nstatus_interval = \"soon\"\n", "run.status_interval"),
        ("[run]\ndriver = \"racer\"\n", "unknown variant"),
        ("[vehicle\n", "line 1"),
    ];
    for (text, needle) in cases {
        let f = file(text);
        let e = Config::build(Some(f.path()), &none, &none, &cat)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&f.path().display().to_string()), "{e}");
        assert!(e.contains(needle), "expected `{needle}` in: {e}");
    }
}

#[test]
fn a_missing_file_is_reported_with_its_path() {
    let none = Overrides::default();
    let e = Config::build(
        Some(Path::new("/nonexistent/tcu.toml")),
        &none,
        &none,
        &catalog(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/tcu.toml"));
}

#[test]
fn environment_values_are_parsed_and_checked() {
    let env = |k: &str| match k {
        "TCU_SEED" => Some("42".to_owned()),
        "TCU_DRIVER" => Some("idle".to_owned()),
        _ => None,
    };
    let o = Overrides::from_env(env).unwrap();
    assert_eq!(
        (o.vehicle.seed, o.vehicle.driver),
        (Some(42), Some(DriverProfile::Idle))
    );
    let e = Overrides::from_env(|k| (k == "TCU_SEED").then(|| "abc".to_owned())).unwrap_err();
    assert!(e.to_string().contains("TCU_SEED"));
}

#[test]
fn vins_are_validated() {
    assert!(validate_vin("WTCUZ000000000001").is_ok());
    assert!(validate_vin("WTCUZ00000000000I").is_err());
    assert!(validate_vin("wtcuz000000000001").is_err());
}

#[test]
fn mqtt_defaults_use_the_embedded_broker_and_the_vin() {
    let c = Config::build(
        None,
        &Overrides::default(),
        &Overrides::default(),
        &catalog(),
    )
    .unwrap();
    assert!(c.mqtt.enabled);
    assert_eq!(c.mqtt.broker, None);
    assert_eq!(c.mqtt.client_id, "tcu-WTCUZ000000000001");
    assert_eq!(c.mqtt.topic_root, "vehicle/WTCUZ000000000001");
    assert_eq!(c.mqtt.publish_period, Duration::from_secs(1));
    assert_eq!(c.mqtt.qos, 1);
    assert_eq!(c.mqtt.profile, Profile::Default);
}

#[test]
fn mqtt_broker_and_profile_from_the_command_line_win() {
    let f = file("[mqtt]\nbroker = \"mqtt://file-broker\"\n");
    let cli = Overrides {
        broker: Some("mqtts://cli-broker:8884".into()),
        profile: Some(Profile::Legacy),
        ..Default::default()
    };
    let c = Config::build(Some(f.path()), &Overrides::default(), &cli, &catalog()).unwrap();
    assert_eq!(c.mqtt.broker.as_deref(), Some("mqtts://cli-broker:8884"));
    assert_eq!(c.mqtt.profile, Profile::Legacy);
}

#[test]
fn mqtt_errors_name_the_layer_and_field() {
    let cli = Overrides {
        broker: Some("http://x".into()),
        ..Default::default()
    };
    let e = Config::build(None, &Overrides::default(), &cli, &catalog())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("command line") && e.contains("mqtt.broker") && e.contains("unknown scheme"),
        "{e}"
    );
    for (text, field) in [
        ("[mqtt]\nqos = 2\n", "mqtt.qos"),
        ("[mqtt]\npublish_period = \"soon\"\n", "mqtt.publish_period"),
        ("[mqtt]\ncert_file = \"c.pem\"\n", "mqtt.cert_file"),
        ("[mqtt]\ntopic_root = \"v/#\"\n", "mqtt.topic_root"),
        (
            "[mqtt]\nembedded_listen = \"localhost\"\n",
            "mqtt.embedded_listen",
        ),
    ] {
        let f = file(text);
        let e = Config::build(
            Some(f.path()),
            &Overrides::default(),
            &Overrides::default(),
            &catalog(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(field) && e.contains(&f.path().display().to_string()),
            "{text}: {e}"
        );
    }
    let e = Overrides::from_env(|k| (k == "TCU_PROFILE").then(|| "fancy".to_owned()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("TCU_PROFILE") && e.contains("unknown profile"),
        "{e}"
    );
}

#[test]
fn record_is_off_by_default_and_its_limits_are_layered_and_checked() {
    let none = Overrides::default();
    let c = Config::build(None, &none, &none, &catalog()).unwrap();
    assert_eq!(c.record.settings(), None);
    assert_eq!((c.record.max_bytes, c.record.files), (64 << 20, 4));
    let f = file("[record]\npath = \"/tmp/d.trace\"\nmax_bytes = 100000\nfiles = 2\n");
    let c = Config::build(Some(f.path()), &none, &none, &catalog()).unwrap();
    let s = c.record.settings().unwrap();
    assert_eq!(s.path, std::path::PathBuf::from("/tmp/d.trace"));
    assert_eq!((s.max_bytes, s.files), (100_000, 2));
    let f = file("[record]\nfiles = 0\n");
    let e = Config::build(Some(f.path()), &none, &none, &catalog()).unwrap_err();
    assert!(e.to_string().contains("record.files"), "{e}");
    assert!(
        e.to_string().contains(&f.path().display().to_string()),
        "{e}"
    );
    let f = file("[record]\nmax_bytes = 10\n");
    let e = Config::build(Some(f.path()), &none, &none, &catalog()).unwrap_err();
    assert!(e.to_string().contains("record.max_bytes"), "{e}");
}

#[test]
fn capture_rules_are_parsed_against_the_catalog_and_a_bad_one_names_the_layer() {
    let none = Overrides::default();
    let f = file(
        "[record]\ncapture_dir = \"/tmp/caps\"\n[[record.capture]]\nrule = \"abs.engaged\"\nbefore = 3.0\n[[record.capture]]\nrule = \"Vehicle.Speed > 130\"\n",
    );
    let c = Config::build(Some(f.path()), &none, &none, &catalog()).unwrap();
    assert_eq!(c.record.captures.len(), 2);
    assert_eq!(
        (c.record.captures[0].before_s, c.record.captures[0].after_s),
        (3.0, 5.0)
    );
    assert_eq!(c.record.capture_dir, std::path::PathBuf::from("/tmp/caps"));
    let f = file("[[record.capture]]\nrule = \"Vehicle.Nope > 1\"\n");
    let e = Config::build(Some(f.path()), &none, &none, &catalog()).unwrap_err();
    assert!(e.to_string().contains("record.capture"), "{e}");
    assert!(
        e.to_string().contains("`Vehicle.Nope` is not a signal"),
        "{e}"
    );
}

#[test]
fn run_by_systemd_the_store_and_outbox_default_to_the_state_directory() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let systemd = env(&[
        ("INVOCATION_ID", "abc"),
        ("STATE_DIRECTORY", "/var/lib/tcu:/other"),
    ]);
    let layer = super::service::service_layer(systemd);
    let none = Overrides::default();
    let c = Config::build_as_service(None, layer.as_deref(), &none, &none, &Catalog::builtin())
        .unwrap();
    assert_eq!(
        c.vehicle.hotswap.store.as_deref(),
        Some(Path::new("/var/lib/tcu/store"))
    );
    assert_eq!(c.mqtt.outbox_dir, Path::new("/var/lib/tcu/outbox"));
    assert_eq!(c.ota.staging_dir, Path::new("/var/lib/tcu/store/ota"));

    // A file that names its own directories still wins.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tcu.toml");
    std::fs::write(&file, "[mqtt]\noutbox_dir = \"/srv/outbox\"\n").unwrap();
    let c = Config::build_as_service(
        Some(&file),
        layer.as_deref(),
        &none,
        &none,
        &Catalog::builtin(),
    )
    .unwrap();
    assert_eq!(c.mqtt.outbox_dir, Path::new("/srv/outbox"));
    assert_eq!(
        c.vehicle.hotswap.store.as_deref(),
        Some(Path::new("/var/lib/tcu/store"))
    );

    // By hand (no systemd variables) nothing moves.
    assert_eq!(
        super::service::service_layer(env(&[("STATE_DIRECTORY", "/var/lib/tcu")])),
        None
    );
    let c = Config::build(None, &none, &none, &Catalog::builtin()).unwrap();
    assert_eq!(c.vehicle.hotswap.store, None);
}
