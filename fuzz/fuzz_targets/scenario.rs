//! A scenario file: parsed and resolved against the catalog (positions,
//! steps, expectations). Errors are fine; a panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tcu_fuzz::catalog;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tcu_scenario::parse(Path::new("fuzz.toml"), text, &catalog());
});
