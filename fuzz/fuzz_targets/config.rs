//! A `--config` file: parsed and layered over the defaults, every section
//! resolved by its owner. Errors are fine; a panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tcu_cli::config::{Config, Overrides};
use tcu_engine::catalog::Catalog;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::builtin)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let none = Overrides::default();
    let _ = Config::from_layers(Some(("fuzz.toml", text)), &none, &none, catalog());
});
