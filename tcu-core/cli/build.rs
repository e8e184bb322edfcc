//! Records the git revision the binary was built from for `tcu --version`:
//! `TCU_GIT_REV` when set (a build from a source archive), else what git
//! says, else `unknown` (no git, no `.git`: a build must not fail for it).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=TCU_GIT_REV");
    let rev = std::env::var("TCU_GIT_REV")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // A commit appends to the HEAD log: rebuild the version text then.
    if let Some(log) = git(&["rev-parse", "--git-path", "logs/HEAD"]) {
        println!("cargo:rerun-if-changed={log}");
    }
    let features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(|f| f.to_lowercase()))
        .collect();
    println!("cargo:rustc-env=TCU_GIT_REV={rev}");
    println!("cargo:rustc-env=TCU_CARGO_FEATURES={}", features.join(","));
}
