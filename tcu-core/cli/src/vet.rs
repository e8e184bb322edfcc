//! `tcu vet`: the candidate library against the current one on recorded
//! traces (`tcu_vet`), the report printed as a table or JSON, JUnit on
//! request. Exit code 0 within tolerance everywhere, 1 not, 2 could not
//! run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tcu_engine::catalog::Catalog;
use tcu_vet::{Pair, Tolerances, VetError};

/// What `tcu vet` was asked.
#[derive(Debug, Clone)]
pub struct Args {
    /// The library vehicles run now.
    pub current: PathBuf,
    /// The library that would replace it.
    pub candidate: PathBuf,
    /// Trace files or directories of them.
    pub traces: Vec<PathBuf>,
    /// Tolerance file.
    pub tolerances: Option<PathBuf>,
    /// JUnit XML output.
    pub junit: Option<PathBuf>,
    /// JSON on stdout instead of the table.
    pub json: bool,
}

/// Vets as `args` says (writing JUnit when asked); the report.
pub fn report(args: &Args) -> Result<tcu_vet::Report, VetError> {
    let catalog = Arc::new(Catalog::builtin());
    let tolerances = match &args.tolerances {
        Some(p) => Tolerances::load(p, &catalog)?,
        None => Tolerances::default(),
    };
    let pair = Pair::open(&args.current, &args.candidate, &catalog)?;
    let start = Instant::now();
    let report = tcu_vet::vet(&pair, &args.traces, &tolerances, &catalog, &mut || {
        start.elapsed()
    })?;
    if let Some(path) = &args.junit {
        report.write_junit(path)?;
    }
    Ok(report)
}

/// Runs `tcu vet`; returns the exit code.
pub fn run(args: &Args) -> i32 {
    match report(args) {
        Ok(report) => {
            if args.json {
                print!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
            report.exit_code()
        }
        Err(e) => {
            eprintln!("tcu vet: {e}");
            2
        }
    }
}
