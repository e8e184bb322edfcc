//! What an operator expects of `tcu`: `--version` with the git revision,
//! plugin ABI and features, `config check`, possible values and every
//! `TCU_*` variable in `--help`, completions and a man page, secrets kept
//! off the command line.

// Test code: a failed step should panic with its error.
#![allow(clippy::unwrap_used)]

use std::process::Output;
use tcu_integration_tests::fixtures;

fn tcu(args: &[&str]) -> Output {
    tcu_integration_tests::process::tcu_command()
        .args(args)
        .output()
        .expect("running tcu")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_names_the_git_revision_the_plugin_abi_and_the_features() {
    let out = tcu(&["--version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or_default();
    let rev = first
        .split("(git ")
        .nth(1)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no git revision in {first:?}"));
    assert!(
        rev == "unknown" || (!rev.is_empty() && rev.chars().all(|c| c.is_ascii_hexdigit())),
        "{rev:?}"
    );
    assert!(
        text.contains(&format!(
            "plugin ABI version {}",
            tcu_sdk::abi::TCU_ABI_VERSION
        )),
        "{text}"
    );
    assert!(text.contains("features: "), "{text}");
}

#[test]
fn config_check_passes_a_good_file_and_names_file_and_field_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, stdout(&tcu(&["config", "generate"]))).unwrap();
    let out = tcu(&["config", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("valid"), "{}", stdout(&out));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[mqtt]\nqos = 7\n").unwrap();
    let out = tcu(&["config", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml") && err.contains("mqtt.qos"),
        "{err}"
    );

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[vehicle]\nwheels = 5\n").unwrap();
    let out = tcu(&["config", "check", unknown.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("unknown.toml") && err.contains("wheels"),
        "{err}"
    );
}

#[test]
fn help_lists_the_possible_drivers_and_profiles() {
    let help = stdout(&tcu(&["run", "--help"]));
    let drivers = tcu_engine::world::driver::PROFILES;
    assert!(
        help.contains(&format!("[possible values: {drivers}]")),
        "{help}"
    );
    let profiles = tcu_link::config::PROFILE_NAMES;
    assert!(
        help.contains(&format!("[possible values: {profiles}]")),
        "{help}"
    );
}

/// Every `TCU_*` name the binary's crates read from the environment.
fn variables_read() -> Vec<String> {
    let root = fixtures::workspace_root();
    let mut names = Vec::new();
    let mut dirs = vec![root.join("tcu-core"), root.join("ota-client/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for pattern in ["get(\"TCU_", "env = \"TCU_", "var(\"TCU_", "var_os(\"TCU_"] {
                    for (i, _) in text.match_indices(pattern) {
                        let rest = &text[i + pattern.len() - 4..];
                        let name: String = rest
                            .chars()
                            .take_while(|c| {
                                c.is_ascii_uppercase() || *c == '_' || c.is_ascii_digit()
                            })
                            .collect();
                        names.push(name);
                    }
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_tcu_variable_the_binary_reads_is_listed_in_help() {
    let names = variables_read();
    assert!(names.len() >= 10, "the scan found too few: {names:?}");
    for help in [stdout(&tcu(&["--help"])), stdout(&tcu(&["run", "--help"]))] {
        for name in &names {
            // The build-time revision is not read at run time.
            if name == "TCU_GIT_REV" {
                continue;
            }
            assert!(help.contains(name.as_str()), "{name} missing from:\n{help}");
        }
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_command_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = tcu(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(
            script.contains("tcu") && script.contains("headless"),
            "{shell}"
        );
    }
    let man = stdout(&tcu(&["man"]));
    assert!(man.contains(".TH tcu 1"), "{man}");
    assert!(man.contains("TCU_OTA_PASSWORD_FILE"), "{man}");
}

#[test]
fn ota_publish_without_a_password_says_how_to_give_one_off_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b.swu");
    std::fs::write(&bundle, b"x").unwrap();
    let args = [
        "ota",
        "publish",
        "--server",
        "http://127.0.0.1:9",
        "--bundle",
        bundle.to_str().unwrap(),
        "--device",
        "d",
    ];
    let out = tcu_integration_tests::process::tcu_command()
        .args(args)
        .env_remove("TCU_OTA_PASSWORD")
        .env_remove("TCU_OTA_PASSWORD_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("TCU_OTA_PASSWORD") && err.contains("TCU_OTA_PASSWORD_FILE"),
        "{err}"
    );
    // From a file: the password is read, and the failure is the server's.
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "secret\n").unwrap();
    let out = tcu_integration_tests::process::tcu_command()
        .args(args)
        .env_remove("TCU_OTA_PASSWORD")
        .env("TCU_OTA_PASSWORD_FILE", &pw)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("not given"), "{err}");
}
