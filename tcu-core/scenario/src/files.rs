//! Running a list of scenario files the way `tcu scenario run` does: a
//! console summary per file, traces and JUnit written where asked, one exit
//! code for the lot. The binary only parses its arguments into [`Args`].
//!
//! With several scenario files, `--trace FILE` writes one trace per scenario
//! next to FILE, named `<FILE stem>.<scenario file stem>.csv`.

use super::junit;
use super::runner::{CaseStatus, RunOptions, ScenarioReport, exit_code, run_file};
use std::path::{Path, PathBuf};

/// What to run and where the outputs go.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Scenario files (TOML).
    pub paths: Vec<PathBuf>,
    /// Write JUnit XML here.
    pub junit: Option<PathBuf>,
    /// Write the CSV trace (time,signal,value) here.
    pub trace: Option<PathBuf>,
    /// Run on the wall clock instead of virtual time.
    pub realtime: bool,
    /// Directory of subsystem libraries (default: next to this executable).
    pub plugins: Option<PathBuf>,
}

fn trace_path(base: &Path, scenario: &Path, several: bool) -> PathBuf {
    if !several {
        return base.to_owned();
    }
    let stem = base
        .file_stem()
        .map_or_else(|| "trace".into(), |s| s.to_string_lossy().into_owned());
    let name = scenario
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    base.with_file_name(format!("{stem}.{name}.csv"))
}

/// One line per scenario, plus every failure and error.
pub fn summary(r: &ScenarioReport) -> String {
    let passed = r
        .cases
        .iter()
        .filter(|c| c.status == CaseStatus::Passed)
        .count();
    let verdict = if r.error.is_some() {
        "ERROR"
    } else if r.failures().next().is_some() {
        "FAIL"
    } else {
        "ok"
    };
    let ratio = if r.wall.as_secs_f64() > 0.0 {
        r.simulated / r.wall.as_secs_f64()
    } else {
        0.0
    };
    let mut out = format!(
        "{verdict:5} {} ({}): {passed}/{} passed, {:.1} s simulated in {:.3} s ({ratio:.0}x)\n",
        r.name,
        r.file.display(),
        r.cases.len(),
        r.simulated,
        r.wall.as_secs_f64()
    );
    for c in &r.cases {
        match &c.status {
            CaseStatus::Passed => {}
            CaseStatus::Failed(m) => {
                out.push_str(&format!("  FAILED {}:{}: {m}\n", r.file.display(), c.pos))
            }
            CaseStatus::Error(m) => out.push_str(&format!("  ERROR  {m}\n")),
        }
    }
    out
}

/// Runs every file of `args` and returns the process exit code: 0 all
/// passed, 1 an expectation failed, 2 a scenario could not be run (or an
/// output could not be written).
pub fn run(args: &Args) -> i32 {
    let opts = RunOptions {
        plugins_dir: args.plugins.clone(),
        realtime: args.realtime,
        trace: args.trace.is_some(),
    };
    if args.realtime {
        eprintln!("running on the wall clock");
    }
    let several = args.paths.len() > 1;
    let mut reports = Vec::new();
    let mut io_error = false;
    for path in &args.paths {
        let report = run_file(path, &opts);
        // A closed pipe (`| head`) must not abort the run.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), summary(&report).as_bytes());
        if let (Some(base), Some(trace)) = (&args.trace, &report.trace) {
            let out = trace_path(base, path, several);
            if let Err(e) = std::fs::write(&out, trace) {
                eprintln!("error: writing trace {}: {e}", out.display());
                io_error = true;
            }
        }
        reports.push(report);
    }
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, junit::render(&reports))
    {
        eprintln!("error: writing JUnit XML {}: {e}", path.display());
        io_error = true;
    }
    let code = exit_code(&reports);
    if io_error { code.max(2) } else { code }
}
