//! Scenario files: a TOML story of a drive (setup, timeline, expectations)
//! run against the real vehicle in virtual time, far faster than real time,
//! with JUnit XML and a CSV trace as outputs. `scenarios/README.md` in the
//! repository documents the format.
//!
//! - [`model`]: the file as written (serde, with spans);
//! - [`parse`]: resolution against the catalog, errors with line and column;
//! - `resolve`: checks of values against the catalog and the run;
//! - [`steps`], [`timeline`]: the steps and carrying them out on the car;
//! - [`expect`], [`verdict`]: expectations and their evaluation;
//! - [`runner`]: building the vehicle and running a scenario;
//! - [`replay`]: a recorded drive as the world (`replay = "file"`);
//! - [`junit`], [`trace`]: the outputs;
//! - [`files`]: a list of files run as `tcu scenario run` runs them.
//!
//! Depends on the engine only: the vehicle it runs is built by
//! [`tcu_engine::build`] like every other.

pub mod expect;
pub mod files;
pub mod junit;
pub mod model;
pub mod parse;
pub mod predicate;
pub mod replay;
mod resolve;
pub mod runner;
pub mod source;
pub mod steps;
pub mod timeline;
pub mod trace;
pub mod verdict;

pub use parse::{Scenario, load, parse};
pub use runner::{
    CaseResult, CaseStatus, RunOptions, ScenarioReport, exit_code, run_file, run_scenario,
};
pub use source::{Pos, ScenarioError};

#[cfg(test)]
mod tests;
