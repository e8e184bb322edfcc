//! installedBase: what the server believes the device runs (the last
//! action it saw finished). When the poll offers it, it is compared with
//! the running versions, once per link and set of versions; a disagreement
//! (after a restart that fell back to an older version, a swap made by
//! hand, a server that missed a rollback) is logged as a warning and raised
//! as an [`OtaState::Diverged`] event. Only chunks that name a running
//! subsystem are compared: a bundle's chunk names its subsystems inside
//! the bundle, which is not downloaded for this.

use crate::client::{Client, Installer, OtaState};
use crate::ddi::DeploymentBase;
use std::collections::BTreeMap;

impl<I: Installer> Client<I> {
    /// Compares the installedBase at `href` with the running versions.
    pub(crate) fn check_installed(&mut self, href: &str) {
        let versions = self.installer.installed_versions();
        let key = (href.to_owned(), versions.clone());
        if self.core.installed_checked.as_ref() == Some(&key) {
            return;
        }
        let base: DeploymentBase = match self.core.get_json(href, "installedBase") {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("OTA: {e}");
                return;
            }
        };
        self.core.installed_checked = Some(key);
        let differences = differences(&base, &versions);
        if differences.is_empty() {
            tracing::debug!(action = %base.id, "installedBase matches the running versions");
            return;
        }
        let detail = format!(
            "the server believes action {} is installed, but {}",
            base.id,
            differences.join("; ")
        );
        tracing::warn!("OTA: {detail}");
        self.core
            .emit(OtaState::Diverged, Some(base.id), detail, None);
    }
}

/// `"battery runs 1.0.0, not 2.0.0"` for each chunk of `base` that names a
/// running subsystem at another version.
fn differences(base: &DeploymentBase, running: &BTreeMap<String, String>) -> Vec<String> {
    base.deployment
        .chunks
        .iter()
        .filter_map(|c| {
            let sub = c.subsystem()?;
            let want = c.version.as_deref()?;
            let have = running.get(sub)?;
            (have != want).then(|| format!("{sub} runs {have}, not {want}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_running_subsystems_at_another_version_differ() {
        let base: DeploymentBase = serde_json::from_str(
            r#"{"id":"3","deployment":{"chunks":[
                {"part":"battery","version":"2.0.0"},
                {"part":"abs","version":"1.0.0"},
                {"part":"os","name":"bundle","version":"9"}]}}"#,
        )
        .expect("parses");
        let running = BTreeMap::from([
            ("battery".to_owned(), "1.0.0".to_owned()),
            ("abs".to_owned(), "1.0.0".to_owned()),
        ]);
        assert_eq!(
            differences(&base, &running),
            ["battery runs 1.0.0, not 2.0.0"]
        );
    }
}
