//! The wire types of hawkBit's Direct Device Integration API: what the
//! server sends (poll, deploymentBase, installedBase, cancelAction,
//! confirmationBase) and what the device sends back (feedback,
//! confirmation feedback, configData). Unknown fields are ignored everywhere:
//! servers add fields, and goosebit sends fewer than hawkBit.
//!
//! Ids the server sends (action ids, cancel and stop ids) go into URLs and
//! file names; they are checked as they are parsed ([`check_id`]), so an
//! answer with an id like `../../x` or `5?y` is refused as a whole.
//!
//! [`parse_poll`], [`parse_deployment_base`], [`parse_cancel`] and
//! [`parse_confirmation`] read an answer from bytes; they never panic,
//! whatever the bytes (fuzz targets call them).

use crate::OtaError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A `{"href": ...}` link.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Link {
    /// Absolute URL.
    pub href: String,
}

/// `GET {base}`: the poll answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Poll {
    /// Server settings for the device.
    #[serde(default)]
    pub config: Option<PollConfig>,
    /// What the server wants the device to look at.
    #[serde(default, rename = "_links")]
    pub links: PollLinks,
}

/// `config` of a poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PollConfig {
    /// `polling`.
    #[serde(default)]
    pub polling: Option<Polling>,
}

/// `config.polling` of a poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Polling {
    /// `HH:MM:SS`.
    #[serde(default)]
    pub sleep: Option<String>,
}

/// `_links` of a poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollLinks {
    /// An action to run.
    #[serde(default)]
    pub deployment_base: Option<Link>,
    /// An action to cancel.
    #[serde(default)]
    pub cancel_action: Option<Link>,
    /// The server wants the device's attributes.
    #[serde(default)]
    pub config_data: Option<Link>,
    /// The last finished action (informational).
    #[serde(default)]
    pub installed_base: Option<Link>,
    /// An action waiting for the device's (user's) consent.
    #[serde(default)]
    pub confirmation_base: Option<Link>,
}

impl Poll {
    /// The server's `sleep`, when present and well-formed.
    pub fn sleep(&self) -> Option<Duration> {
        parse_sleep(self.config.as_ref()?.polling.as_ref()?.sleep.as_deref()?)
    }
}

/// Parses hawkBit's `HH:MM:SS`.
pub fn parse_sleep(text: &str) -> Option<Duration> {
    let mut parts = text.trim().split(':');
    let h: u64 = parts.next()?.parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let s: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || m >= 60 || s >= 60 {
        return None;
    }
    Some(Duration::from_secs(h * 3600 + m * 60 + s))
}

/// Longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// Whether `id` is a plain id: 1 to [`MAX_ID_LEN`] ASCII letters, digits,
/// `-` or `_`. Such an id is one URL path segment and one file name as it
/// is, with nothing to escape (hawkBit and goosebit use numbers).
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!(
            "id `{}` is not 1 to {MAX_ID_LEN} characters long",
            id.escape_debug()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
    {
        return Err(format!(
            "id `{}` contains `{}`; only letters, digits, `-` and `_` are accepted",
            id.escape_debug(),
            c.escape_debug()
        ));
    }
    Ok(())
}

/// A plain id ([`check_id`]); accepts `"8"` and `8` (hawkBit sends
/// strings, some servers numbers).
fn plain_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        N(i64),
    }
    let id = match Id::deserialize(d)? {
        Id::S(s) => s,
        Id::N(n) => n.to_string(),
    };
    check_id(&id).map_err(serde::de::Error::custom)?;
    Ok(id)
}

/// Parses the `what` answer (`poll`, `deploymentBase`, ...) from `bytes`.
pub fn parse<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, OtaError> {
    serde_json::from_slice(bytes).map_err(|e| OtaError::Parse {
        what: what.into(),
        message: e.to_string(),
    })
}

/// The poll answer (`GET {base}`).
pub fn parse_poll(bytes: &[u8]) -> Result<Poll, OtaError> {
    parse("poll", bytes)
}

/// A deploymentBase (or installedBase) answer.
pub fn parse_deployment_base(bytes: &[u8]) -> Result<DeploymentBase, OtaError> {
    parse("deploymentBase", bytes)
}

/// A cancelAction answer.
pub fn parse_cancel(bytes: &[u8]) -> Result<CancelBase, OtaError> {
    parse("cancelAction", bytes)
}

/// A confirmationBase answer.
pub fn parse_confirmation(bytes: &[u8]) -> Result<ConfirmationBase, OtaError> {
    parse("confirmationBase", bytes)
}

/// `GET deploymentBase/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeploymentBase {
    /// Action id.
    #[serde(deserialize_with = "plain_id")]
    pub id: String,
    /// What to do.
    pub deployment: Deployment,
}

/// `skip` / `attempt` / `forced`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Handling {
    /// Not now.
    Skip,
    /// Soft: the device may decide.
    Attempt,
    /// Now.
    #[default]
    Forced,
}

/// `maintenanceWindow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// Installation allowed now.
    Available,
    /// Download only; install once a later poll says available.
    Unavailable,
}

/// `deployment`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Download handling.
    #[serde(default)]
    pub download: Handling,
    /// Update handling.
    #[serde(default)]
    pub update: Handling,
    /// Present only when the server has a schedule.
    #[serde(default)]
    pub maintenance_window: Option<Window>,
    /// Software modules.
    #[serde(default)]
    pub chunks: Vec<Chunk>,
}

/// One software module; for the TCU, one subsystem.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Chunk {
    /// Module type.
    #[serde(default)]
    pub part: Option<String>,
    /// Version.
    #[serde(default)]
    pub version: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Files.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
}

/// Generic hawkBit module types that say nothing about the subsystem.
const GENERIC_PARTS: &[&str] = &["os", "application", "bapp", "runtime", "firmware"];

impl Chunk {
    /// The subsystem this chunk replaces: `part`, unless it is empty or one
    /// of hawkBit's generic module types (`os`, `application`, ...), then
    /// `name`.
    pub fn subsystem(&self) -> Option<&str> {
        let usable = |s: &&str| !s.trim().is_empty();
        self.part
            .as_deref()
            .filter(usable)
            .filter(|p| !GENERIC_PARTS.contains(&p.to_ascii_lowercase().as_str()))
            .or_else(|| self.name.as_deref().filter(usable))
    }
}

/// One file of a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Artifact {
    /// File name as the server gives it (sanitised before use).
    pub filename: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// Hashes, any subset.
    #[serde(default)]
    pub hashes: Hashes,
    /// Download links.
    #[serde(default, rename = "_links")]
    pub links: ArtifactLinks,
}

/// Hashes of an artifact (hex).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Hashes {
    /// SHA-1.
    #[serde(default)]
    pub sha1: Option<String>,
    /// MD5.
    #[serde(default)]
    pub md5: Option<String>,
    /// SHA-256.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// `_links` of an artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ArtifactLinks {
    /// HTTPS (or whatever the server prefers).
    #[serde(default)]
    pub download: Option<Link>,
    /// Plain HTTP.
    #[serde(default, rename = "download-http")]
    pub download_http: Option<Link>,
}

impl Artifact {
    /// The download URL: `download`, else `download-http`.
    pub fn url(&self) -> Option<&str> {
        self.links
            .download
            .as_ref()
            .or(self.links.download_http.as_ref())
            .map(|l| l.href.as_str())
    }
}

/// `GET cancelAction/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelBase {
    /// Id of the cancel action.
    #[serde(deserialize_with = "plain_id")]
    pub id: String,
    /// What to stop.
    pub cancel_action: CancelAction,
}

/// `cancelAction` of a cancel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAction {
    /// The action to stop.
    #[serde(deserialize_with = "plain_id")]
    pub stop_id: String,
}

/// `GET confirmationBase/{id}`: an action that waits for consent before the
/// server offers its deploymentBase.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConfirmationBase {
    /// Action id.
    #[serde(deserialize_with = "plain_id")]
    pub id: String,
    /// What the action would install (same shape as a deployment).
    #[serde(default)]
    pub confirmation: Option<Deployment>,
}

/// The device's answer to a confirmation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consent {
    /// Go ahead: the server offers the deploymentBase next.
    Confirmed,
    /// Not now: the action stays waiting for confirmation.
    Denied,
}

/// `POST confirmationBase/{id}/feedback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationFeedback {
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The answer.
    pub confirmation: Consent,
    /// A device-specific code (0 here: no error).
    pub code: i32,
    /// Why.
    pub details: Vec<String>,
}

impl ConfirmationFeedback {
    /// An answer stamped now.
    pub fn new(confirmation: Consent, details: Vec<String>) -> Self {
        Self {
            timestamp: now_millis(),
            confirmation,
            code: 0,
            details,
        }
    }
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `execution` of a feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Execution {
    /// Finished (see `finished`).
    Closed,
    /// Running.
    Proceeding,
    /// Canceled (hawkBit only warns; cancels are accepted with `closed`).
    Canceled,
    /// Waiting.
    Scheduled,
    /// Refused (a cancel after installation started).
    Rejected,
    /// Running again.
    Resumed,
    /// Downloaded.
    Downloaded,
    /// Downloading.
    Download,
}

/// `result.finished` of a feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finished {
    /// Success.
    Success,
    /// Failure.
    Failure,
    /// Not finished.
    None,
}

/// A feedback body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub timestamp: u64,
    /// Status.
    pub status: FeedbackStatus,
}

/// `status` of a feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackStatus {
    /// Execution state.
    pub execution: Execution,
    /// Result.
    pub result: FeedbackResult,
    /// Messages (at most a few; servers keep a bounded number).
    #[serde(default)]
    pub details: Vec<String>,
}

/// `status.result` of a feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackResult {
    /// Finished?
    pub finished: Finished,
    /// Progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// `progress` of a feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Done.
    pub cnt: u64,
    /// Of.
    pub of: u64,
}

impl Feedback {
    /// A feedback stamped now.
    pub fn new(
        execution: Execution,
        finished: Finished,
        progress: Option<(u64, u64)>,
        details: Vec<String>,
    ) -> Self {
        Self {
            timestamp: now_millis(),
            status: FeedbackStatus {
                execution,
                result: FeedbackResult {
                    finished,
                    progress: progress.map(|(cnt, of)| Progress { cnt, of }),
                },
                details,
            },
        }
    }
}

/// `PUT configData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigData {
    /// `merge`, `replace` or `remove`.
    pub mode: String,
    /// Attributes.
    pub data: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_is_hours_minutes_seconds() {
        assert_eq!(parse_sleep("00:05:00"), Some(Duration::from_secs(300)));
        assert_eq!(parse_sleep("01:00:07"), Some(Duration::from_secs(3607)));
        assert_eq!(parse_sleep("00:61:00"), None);
        assert_eq!(parse_sleep("5m"), None);
    }

    #[test]
    fn poll_with_unknown_fields_and_links_parses() {
        let p: Poll = serde_json::from_str(
            r#"{"config":{"polling":{"sleep":"00:00:30"},"x":1},"other":true,
                "_links":{"deploymentBase":{"href":"http://h/t/controller/v1/d/deploymentBase/5?c=1"},
                          "configData":{"href":"http://h/c"}}}"#,
        )
        .expect("parses");
        assert_eq!(p.sleep(), Some(Duration::from_secs(30)));
        assert!(p.links.deployment_base.is_some() && p.links.config_data.is_some());
        assert!(p.links.cancel_action.is_none());
    }

    #[test]
    fn deployment_with_numeric_id_and_only_sha1_parses() {
        let d: DeploymentBase = serde_json::from_str(
            r#"{"id":8,"deployment":{"download":"forced","update":"attempt","maintenanceWindow":"unavailable",
                "chunks":[{"part":"os","version":"2.0.0","name":"battery","artifacts":[
                  {"filename":"libbattery.so","size":5000000000,"hashes":{"sha1":"ab"},
                   "_links":{"download-http":{"href":"http://x/f"}}}]}]},
                "actionHistory":{"status":"RUNNING"}}"#,
        )
        .expect("parses");
        assert_eq!(d.id, "8");
        assert_eq!(d.deployment.update, Handling::Attempt);
        assert_eq!(d.deployment.maintenance_window, Some(Window::Unavailable));
        let c = &d.deployment.chunks[0];
        assert_eq!(
            c.subsystem(),
            Some("battery"),
            "generic part falls back to name"
        );
        assert_eq!(c.artifacts[0].size, Some(5_000_000_000));
        assert_eq!(c.artifacts[0].url(), Some("http://x/f"));
    }

    #[test]
    fn chunk_subsystem_prefers_part() {
        let c = Chunk {
            part: Some("abs".into()),
            version: None,
            name: Some("brakes".into()),
            artifacts: vec![],
        };
        assert_eq!(c.subsystem(), Some("abs"));
    }

    #[test]
    fn confirmation_base_and_answer_have_the_ddi_shape() {
        let c: ConfirmationBase = serde_json::from_str(
            r#"{"id":"6","confirmation":{"download":"forced","update":"forced",
                "chunks":[{"part":"battery","version":"2.0.0","artifacts":[]}]},
                "actionHistory":{"status":"WAIT_FOR_CONFIRMATION"}}"#,
        )
        .expect("parses");
        assert_eq!(c.id, "6");
        assert_eq!(c.confirmation.expect("deployment").chunks.len(), 1);
        let v = serde_json::to_value(ConfirmationFeedback::new(
            Consent::Denied,
            vec!["not now".into()],
        ))
        .expect("serialises");
        assert_eq!(v["confirmation"], "denied");
        assert_eq!(v["code"], 0);
        assert!(v["timestamp"].as_u64().is_some_and(|t| t > 0));
    }

    #[test]
    fn ids_that_would_change_a_url_or_a_path_are_refused() {
        let bad = [
            "../../x",
            "5/../../evil",
            "7?x=1",
            "7#f",
            "%2e%2e",
            "a b",
            "",
            ".",
            "x\\y",
            "\0",
        ];
        for id in bad {
            let body = serde_json::json!({"id": id, "deployment": {"chunks": []}}).to_string();
            let e = parse_deployment_base(body.as_bytes())
                .expect_err(id)
                .to_string();
            assert!(
                e.contains("deploymentBase") && e.contains("id `"),
                "{id}: {e}"
            );
            let body = serde_json::json!({"id": "1", "cancelAction": {"stopId": id}}).to_string();
            assert!(parse_cancel(body.as_bytes()).is_err(), "stop id {id}");
            let body = serde_json::json!({"id": id, "cancelAction": {"stopId": "1"}}).to_string();
            assert!(parse_cancel(body.as_bytes()).is_err(), "cancel id {id}");
            let body = serde_json::json!({ "id": id }).to_string();
            assert!(
                parse_confirmation(body.as_bytes()).is_err(),
                "confirmation id {id}"
            );
        }
        let long = "9".repeat(MAX_ID_LEN + 1);
        assert!(check_id(&long).is_err());
        for ok in ["8", "-3", "action_7-b", &"9".repeat(MAX_ID_LEN)] {
            assert_eq!(check_id(ok), Ok(()), "{ok}");
        }
        let d = parse_deployment_base(br#"{"id":12,"deployment":{}}"#).expect("numeric id");
        assert_eq!(d.id, "12");
    }

    #[test]
    fn parsing_arbitrary_bytes_returns_errors() {
        for bytes in [
            &b""[..],
            b"\xff\xfe",
            b"{",
            b"[]",
            b"null",
            b"{\"id\":1e999}",
            b"{\"_links\":7}",
        ] {
            let _ = parse_poll(bytes);
            assert!(parse_deployment_base(bytes).is_err());
            assert!(parse_cancel(bytes).is_err());
            assert!(parse_confirmation(bytes).is_err());
        }
    }

    #[test]
    fn feedback_serialises_as_ddi_expects() {
        let f = Feedback::new(
            Execution::Proceeding,
            Finished::None,
            Some((2, 5)),
            vec!["x".into()],
        );
        let v = serde_json::to_value(&f).expect("serialises");
        assert_eq!(v["status"]["execution"], "proceeding");
        assert_eq!(v["status"]["result"]["finished"], "none");
        assert_eq!(v["status"]["result"]["progress"]["of"], 5);
    }
}
