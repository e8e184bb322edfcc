//! Shared helpers of the cross-crate integration tests in `tests/tests/`.
//!
//! [`fixtures`] builds the plugin libraries the tests load: the C plugins of
//! `tests/fixtures/c` (one good, several broken on purpose), the panicking
//! Rust plugin of `tests/fixtures/panicky`, and the workspace's own plugins.

pub mod bench;
pub mod ddi_fake;
pub mod fixtures;
pub mod goosebit;
pub mod harness;
pub mod hawkbit_mgmt_fake;
pub mod http1;
pub mod mqtt;
pub mod nats;
pub mod ota_recorder;
pub mod owned;
pub mod postgres;
pub mod process;
pub mod signed;
pub mod twin;
pub mod variants;
pub mod webdriver;
