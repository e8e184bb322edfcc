//! A `--config` file: parsed and layered over the defaults, every section
//! resolved by its owner. Errors are fine; a panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcu_cli::config::{Config, Overrides};
use tcu_fuzz::catalog;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let none = Overrides::default();
    let _ = Config::from_layers(Some(("fuzz.toml", text)), &none, &none, &catalog());
});
