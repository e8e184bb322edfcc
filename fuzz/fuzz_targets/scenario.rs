//! A scenario file: parsed and resolved against the catalog (positions,
//! steps, expectations). Errors are fine; a panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;
use tcu_engine::catalog::Catalog;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::builtin)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = tcu_scenario::parse(Path::new("fuzz.toml"), text, catalog());
});
