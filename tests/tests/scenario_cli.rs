//! `tcu scenario run` as CI runs it: exit codes 0 (passed), 1 (an
//! expectation failed) and 2 (a scenario could not be run), the console
//! summary, JUnit XML with failures and errors kept apart, and trace files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tcu_integration_tests::fixtures;

fn tcu(args: &[&Path]) -> Output {
    let exe: PathBuf = fixtures::workspace_plugins_dir().join("tcu");
    assert!(exe.is_file(), "{} missing", exe.display());
    Command::new(exe)
        .arg("scenario")
        .arg("run")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("tcu runs")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

const PASSING: &str = r#"name = "passes"
duration = 2.0
[[step]]
at = 0.0
set = { "Sim.Driver.AcceleratorPedal" = 30 }
[[expect]]
signal = "Vehicle.Speed"
above = 1.0
at = 2.0
"#;

const FAILING: &str = r#"name = "fails <&>"
duration = 2.0
[[expect]]
name = "speed & more"
signal = "Vehicle.Speed"
above = 50.0
at = 1.0
[[expect]]
signal = "Vehicle.Speed"
below = 1.0
at = 1.0
"#;

const BROKEN: &str =
    "name = \"broken\"\nduration = 2.0\n[[step]]\nat = 1.0\nset = { \"Vehicle.Nope\" = 1 }\n";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn exit_codes_tell_passed_failed_and_broken_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = write(dir.path(), "pass.toml", PASSING);
    let fail = write(dir.path(), "fail.toml", FAILING);
    let broken = write(dir.path(), "broken.toml", BROKEN);

    let out = tcu(&[&pass]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("ok    passes"), "{}", text(&out));

    let out = tcu(&[&pass, &fail]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(
            "fail.toml:3:1: speed & more: at t=1.000 s: expected Vehicle.Speed > 50, actual 0"
        ),
        "{t}"
    );

    let out = tcu(&[&pass, &fail, &broken]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("broken.toml:5:9: unknown signal `Vehicle.Nope`"),
        "{}",
        text(&out)
    );

    let out = tcu(&[&dir.path().join("absent.toml")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("cannot read the file"),
        "{}",
        text(&out)
    );
}

#[test]
fn junit_keeps_failures_and_errors_apart_and_escapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = write(dir.path(), "pass.toml", PASSING);
    let fail = write(dir.path(), "fail.toml", FAILING);
    let broken = write(dir.path(), "broken.toml", BROKEN);
    let junit = dir.path().join("junit.xml");
    let out = tcu(&[
        &pass,
        &fail,
        &broken,
        Path::new("--junit"),
        &junit,
        Path::new("--trace"),
        &dir.path().join("trace.csv"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
    assert!(
        xml.contains("tests=\"4\" failures=\"1\" errors=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"fails &lt;&amp;&gt;\""),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"speed &amp; more\""), "{xml}");
    assert!(xml.contains("<failure message=\"speed &amp; more: at t=1.000 s: expected Vehicle.Speed &gt; 50, actual 0\">"), "{xml}");
    assert!(xml.contains("<error message=\""), "{xml}");
    assert!(
        xml.contains("unknown signal `Vehicle.Nope`</error>"),
        "{xml}"
    );
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    // One trace per scenario that ran.
    for name in ["trace.pass.csv", "trace.fail.csv"] {
        let csv = std::fs::read_to_string(dir.path().join(name)).expect("trace written");
        assert!(csv.starts_with("time,signal,value\n"));
    }
    assert!(!dir.path().join("trace.broken.csv").exists());
}

#[test]
fn a_plugin_directory_without_the_default_plugins_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = write(dir.path(), "pass.toml", PASSING);
    let empty = dir.path().join("no-plugins");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = tcu(&[&pass, Path::new("--plugins"), &empty]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("pass.toml: plugin `battery` (default set): missing plugin file"),
        "{t}"
    );
    assert!(t.contains("libtcu_plugin_battery.so"), "{t}");
}

#[test]
fn realtime_runs_on_the_wall_clock_and_virtual_time_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = write(dir.path(), "pass.toml", PASSING);
    let start = std::time::Instant::now();
    let out = tcu(&[&pass, Path::new("--realtime")]);
    let wall = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("running on the wall clock"),
        "{}",
        text(&out)
    );
    // Two simulated seconds take two seconds of wall time.
    assert!(wall >= std::time::Duration::from_millis(1900), "{wall:?}");
}

/// `tcu scenario run scenarios/` runs the directory as a test runner would:
/// every `.toml` directly inside it, sorted by name, and nothing else (not
/// other files, not subdirectories).
#[test]
fn a_directory_runs_every_toml_file_in_it_sorted_by_name_not_recursively() {
    let dir = tempfile::tempdir().expect("tempdir");
    let named = |name: &str| PASSING.replace("name = \"passes\"", &format!("name = \"{name}\""));
    write(dir.path(), "b.toml", &named("second"));
    write(dir.path(), "a.toml", &named("first"));
    write(dir.path(), "notes.txt", "not a scenario");
    std::fs::create_dir(dir.path().join("deeper")).expect("mkdir");
    write(&dir.path().join("deeper"), "c.toml", &named("nested"));
    let out = tcu(&[dir.path()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let first = t
        .find("ok    first")
        .unwrap_or_else(|| panic!("a.toml not run: {t}"));
    let second = t
        .find("ok    second")
        .unwrap_or_else(|| panic!("b.toml not run: {t}"));
    assert!(first < second, "not sorted by name: {t}");
    assert_eq!(t.matches("ok    ").count(), 2, "{t}");
    assert!(!t.contains("nested"), "ran a subdirectory: {t}");
}

#[test]
fn an_empty_scenario_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    write(&empty, "README.md", "no scenarios here");
    let out = tcu(&[&empty]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains(&format!(
            "{}: no .toml scenario files in the directory",
            empty.display()
        )),
        "{t}"
    );
}
