//! Running a list of scenario files the way `tcu scenario run` does: a
//! console summary per file, traces and JUnit written where asked, one exit
//! code for the lot. The binary only parses its arguments into [`Args`].
//!
//! A directory stands for every `.toml` file directly inside it, sorted by
//! name, as a test runner takes a directory of tests; subdirectories are not
//! entered. A directory without one is an error naming it.
//!
//! With several scenario files, `--trace FILE` writes one trace per scenario
//! next to FILE, named `<FILE stem>.<scenario file stem>.csv`.

use super::junit;
use super::runner::{CaseStatus, RunOptions, ScenarioReport, exit_code, run_file};
use super::source::ScenarioError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to run and where the outputs go.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Scenario files (TOML), or directories of them.
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

/// The scenario files `path` stands for: itself, or for a directory every
/// `.toml` file directly inside it, sorted by name. A directory that cannot
/// be listed or holds no `.toml` file is an error naming it.
pub fn expand(path: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let unreadable =
        |e: std::io::Error| ScenarioError::whole(path, format!("cannot read the directory: {e}"));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(unreadable)? {
        let file = entry.map_err(unreadable)?.path();
        if file.extension().is_some_and(|e| e == "toml") && file.is_file() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(ScenarioError::whole(
            path,
            "no .toml scenario files in the directory",
        ));
    }
    files.sort();
    Ok(files)
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
    let files: Vec<Result<PathBuf, ScenarioError>> = args
        .paths
        .iter()
        .flat_map(|p| match expand(p) {
            Ok(files) => files.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        })
        .collect();
    let several = files.len() > 1;
    let mut reports = Vec::new();
    let mut io_error = false;
    for file in files {
        let report = match file {
            Ok(path) => run_file(&path, &opts),
            Err(e) => {
                let (file, name) = (e.file.clone(), e.file.display().to_string());
                ScenarioReport::errored(&file, name, e, Duration::ZERO)
            }
        };
        // A closed pipe (`| head`) must not abort the run.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), summary(&report).as_bytes());
        if let (Some(base), Some(trace)) = (&args.trace, &report.trace) {
            let out = trace_path(base, &report.file, several);
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
