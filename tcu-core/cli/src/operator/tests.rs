use super::*;
use std::collections::HashMap;

#[test]
fn a_secret_comes_from_the_option_then_the_variable_then_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").unwrap();
    let env: HashMap<&str, String> = [("X_FILE", file.display().to_string())].into();
    let get = |k: &str| env.get(k).cloned();
    assert_eq!(
        secret(Some("given".into()), "X", get).unwrap().as_deref(),
        Some("given")
    );
    assert_eq!(
        secret(None, "X", get).unwrap().as_deref(),
        Some("from-file")
    );
    let both: HashMap<&str, String> =
        [("X", "var".into()), ("X_FILE", "/nonexistent".into())].into();
    assert_eq!(
        secret(None, "X", |k| both.get(k).cloned())
            .unwrap()
            .as_deref(),
        Some("var")
    );
    assert_eq!(secret(None, "X", |_| None).unwrap(), None);
}

#[test]
fn an_unreadable_secret_file_names_its_variable_and_path() {
    let e = secret(None, "X", |k| {
        (k == "X_FILE").then(|| "/nonexistent/pw".to_owned())
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("X_FILE") && e.contains("/nonexistent/pw"), "{e}");
}

#[test]
fn the_mqtt_password_is_taken_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mqtt");
    std::fs::write(&file, "s3cret\n").unwrap();
    let mut config = Config::build(
        None,
        &Overrides::default(),
        &Overrides::default(),
        &Catalog::builtin(),
    )
    .unwrap();
    let path = file.display().to_string();
    apply_mqtt_secret(&mut config, |k| {
        (k == "TCU_MQTT_PASSWORD_FILE").then(|| path.clone())
    })
    .unwrap();
    assert_eq!(config.mqtt.password.as_deref(), Some("s3cret"));
}

#[test]
fn the_listed_parsers_offer_exactly_the_names_their_types_parse() {
    let names: Vec<String> = driver_parser()
        .possible_values()
        .unwrap()
        .map(|v| v.get_name().to_owned())
        .collect();
    assert_eq!(
        names.len(),
        tcu_engine::world::driver::PROFILES.split(',').count()
    );
    for n in &names {
        assert!(
            n.parse::<tcu_engine::world::driver::DriverProfile>()
                .is_ok(),
            "{n}"
        );
    }
    for v in profile_parser().possible_values().unwrap() {
        assert!(
            v.get_name().parse::<tcu_link::config::Profile>().is_ok(),
            "{}",
            v.get_name()
        );
    }
}

#[test]
fn a_config_naming_an_unreadable_trusted_key_fails_the_check_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tcu.toml");
    std::fs::write(
        &file,
        "[hotswap]\ntrusted_keys = [\"/nonexistent/key.pub\"]\n",
    )
    .unwrap();
    let e = check_config(&file).unwrap_err().to_string();
    assert!(e.contains("tcu.toml") && e.contains("trusted_keys"), "{e}");
}
