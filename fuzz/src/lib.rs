//! What every fuzz target shares: the shipped catalog, built once per
//! process (building it per input would drown the parsers' cost).

use std::sync::{Arc, OnceLock};
use tcu_engine::catalog::Catalog;

/// The built-in catalog, shared by every input of a run.
pub fn catalog() -> Arc<Catalog> {
    static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
    CATALOG.get_or_init(|| Arc::new(Catalog::builtin())).clone()
}
