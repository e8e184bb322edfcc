//! Helpers for the benchmark binaries in `tests/benches`: `--name value`
//! options (whatever else `cargo bench` passes is ignored) and the release
//! directory the plugins and binaries are built into.

use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The value after `--name` in `argv`, parsed; `None` when absent. A value
/// that does not parse stops the benchmark naming the option.
pub fn flag_in<T: FromStr>(argv: &[String], name: &str) -> Option<T> {
    let at = argv.iter().position(|a| a == name)?;
    let raw = argv
        .get(at + 1)
        .unwrap_or_else(|| panic!("{name} needs a value"));
    Some(
        raw.parse()
            .unwrap_or_else(|_| panic!("{name} {raw}: not a valid value")),
    )
}

/// [`flag_in`] on this process's arguments, or `default`.
pub fn flag<T: FromStr>(name: &str, default: T) -> T {
    let argv: Vec<String> = std::env::args().collect();
    flag_in(&argv, name).unwrap_or(default)
}

/// `target/release` (or whichever profile directory holds this benchmark).
pub fn release_dir() -> PathBuf {
    std::env::current_exe()
        .expect("the benchmark's path")
        .parent()
        .and_then(Path::parent)
        .expect("the benchmark lies two levels below the profile directory")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_by_name_and_anything_else_is_ignored() {
        let argv: Vec<String> = ["bench", "--bench", "--vehicles", "200", "--rate", "2.5"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(flag_in::<u64>(&argv, "--vehicles"), Some(200));
        assert_eq!(flag_in::<f64>(&argv, "--rate"), Some(2.5));
        assert_eq!(flag_in::<u64>(&argv, "--seconds"), None);
    }

    #[test]
    #[should_panic(expected = "--vehicles many: not a valid value")]
    fn a_value_that_does_not_parse_names_the_option() {
        let argv: Vec<String> = ["--vehicles", "many"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let _: Option<u64> = flag_in(&argv, "--vehicles");
    }
}
