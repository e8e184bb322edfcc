//! hawkBit's Management API (`/rest/v1`, HTTP Basic authentication), the
//! calls a rollout of TCU bundles needs:
//!
//! - `POST /rest/v1/softwaremodules` with a JSON array of modules (`name`,
//!   `version`, `type`), answered 201 with the created modules and their
//!   `id`s;
//! - `POST /rest/v1/softwaremodules/{id}/artifacts`, the bundle as the
//!   multipart field `file`, answered 201 with the artifact and its
//!   `hashes`, which are checked against the bundle;
//! - `POST /rest/v1/distributionsets` with an array of sets (`name`,
//!   `version`, `type`, `modules: [{id}]`), 201;
//! - `POST /rest/v1/distributionsets/{id}/assignedTargets` with
//!   `[{id, type}]`, answered 200 with `assigned`, `alreadyAssigned`,
//!   `total`;
//! - `GET /rest/v1/targets/{controllerId}` (`updateStatus`) and
//!   `GET /rest/v1/targets/{controllerId}/installedDS` (200 with the set, or
//!   204 when none is installed);
//! - `GET /rest/v1/targets?q=&offset=&limit=`, paged as
//!   `{content, total, size}` and read page by page;
//! - `POST /rest/v1/rollouts` (`name`, `distributionSetId`,
//!   `targetFilterQuery`, `amountGroups`, `successCondition` /
//!   `errorCondition` `{condition: "THRESHOLD", expression: "<percent>"}`,
//!   `successAction` `NEXTGROUP`, `errorAction` `PAUSE`), 201 with its `id`
//!   and `status` (`creating`, then `ready`); `GET /rest/v1/rollouts/{id}`;
//!   `POST /rest/v1/rollouts/{id}/start` once it is `ready`.
//!
//! No hawkBit server runs here: these calls are checked against a fake that
//! follows the documented paths, bodies, status codes and paging
//! (`tests/src/hawkbit_mgmt_fake.rs`), not against hawkBit itself.

use super::{DeviceStatus, ManagementApi, multipart_file, status_err};
use crate::OtaError;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};

/// Targets read per page.
pub const PAGE: usize = 100;

/// How long a new rollout may stay `creating` before it is started.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A rollout to create.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// Its name.
    pub name: String,
    /// The distribution set to roll out.
    pub distribution_set: String,
    /// Which targets (hawkBit's FIQL query, e.g. `controllerId==WTCUZ*`).
    pub filter: String,
    /// Groups the targets are split into.
    pub groups: u32,
    /// Percent of a group that must succeed before the next one starts.
    pub success_percent: u8,
    /// Percent of a group that failing pauses the rollout.
    pub error_percent: u8,
}

/// hawkBit's Management API.
#[derive(Debug)]
pub struct Hawkbit {
    base: String,
    user: String,
    password: String,
    client: Client,
}

fn send(what: &str, req: RequestBuilder) -> Result<Response, OtaError> {
    let resp = req.send().map_err(|e| OtaError::http(what, &e))?;
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(status_err(what, resp))
    }
}

fn json_of(what: &str, resp: Response) -> Result<Value, OtaError> {
    resp.json().map_err(|e| OtaError::http(what, &e))
}

/// The `id` of the first element of a created-entities array, as text.
fn first_id(what: &str, v: &Value) -> Result<String, OtaError> {
    let id = v
        .as_array()
        .and_then(|a| a.first())
        .and_then(|e| e.get("id"))
        .or_else(|| v.get("id"));
    match id {
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(OtaError::Api {
            what: what.into(),
            status: 201,
            body: format!(
                "no id in {}",
                v.to_string().chars().take(200).collect::<String>()
            ),
        }),
    }
}

impl Hawkbit {
    /// A client of the server at `base` as `user`.
    pub fn new(base: &str, user: &str, password: &str) -> Result<Self, OtaError> {
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| OtaError::http("building the HTTP client", &e))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            client,
        })
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.client
            .get(format!("{}/rest/v1{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.client
            .post(format!("{}/rest/v1{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
    }

    /// The controller ids of every target `filter` matches (every target
    /// without one), read page by page.
    pub fn targets(&self, filter: Option<&str>) -> Result<Vec<String>, OtaError> {
        let mut out = Vec::new();
        loop {
            let mut query = vec![
                ("offset", out.len().to_string()),
                ("limit", PAGE.to_string()),
            ];
            if let Some(q) = filter {
                query.push(("q", q.to_owned()));
            }
            let page = json_of(
                "listing targets",
                send("listing targets", self.get("/targets").query(&query))?,
            )?;
            let content = page["content"].as_array().cloned().unwrap_or_default();
            let total = page["total"].as_u64().unwrap_or(0) as usize;
            out.extend(
                content
                    .iter()
                    .filter_map(|t| t["controllerId"].as_str().map(str::to_owned)),
            );
            if content.is_empty() || out.len() >= total {
                return Ok(out);
            }
        }
    }

    /// Creates `rollout`, waits until hawkBit has split it into its groups
    /// (`ready`), and starts it; its id.
    pub fn start_rollout(&self, rollout: &Rollout) -> Result<String, OtaError> {
        let threshold = |p: u8| json!({"condition": "THRESHOLD", "expression": p.to_string()});
        let body = json!({
            "name": rollout.name,
            "distributionSetId": rollout.distribution_set.parse::<u64>().map_err(|_| OtaError::Config {
                field: "distribution set".into(),
                message: format!("`{}` is not a hawkBit id", rollout.distribution_set),
            })?,
            "targetFilterQuery": rollout.filter,
            "amountGroups": rollout.groups.max(1),
            "successCondition": threshold(rollout.success_percent),
            "successAction": {"action": "NEXTGROUP", "expression": ""},
            "errorCondition": threshold(rollout.error_percent),
            "errorAction": {"action": "PAUSE", "expression": ""},
            "type": "forced",
        });
        let what = format!("creating rollout {}", rollout.name);
        let created = json_of(&what, send(&what, self.post("/rollouts").json(&body))?)?;
        let id = first_id(&what, &created)?;
        let end = Instant::now() + READY_TIMEOUT;
        loop {
            let status = self.rollout_status(&id)?;
            match status.as_str() {
                "ready" => break,
                "creating" if Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                other => {
                    return Err(OtaError::Api {
                        what: format!("waiting for rollout {id} to be ready"),
                        status: 200,
                        body: format!("status `{other}`"),
                    });
                }
            }
        }
        let what = format!("starting rollout {id}");
        send(&what, self.post(&format!("/rollouts/{id}/start")))?;
        Ok(id)
    }

    /// A rollout's `status` (`creating`, `ready`, `running`, `paused`,
    /// `finished`, ...).
    pub fn rollout_status(&self, id: &str) -> Result<String, OtaError> {
        let what = format!("reading rollout {id}");
        let v = json_of(&what, send(&what, self.get(&format!("/rollouts/{id}")))?)?;
        Ok(v["status"].as_str().unwrap_or_default().to_owned())
    }
}

/// `software.version` and the image names of a bundle's sw-description.
fn bundle_identity(bytes: &[u8]) -> Result<(String, String), String> {
    let members = crate::swu::parse_members(bytes)?;
    let desc = members
        .iter()
        .find(|(n, _)| n == "sw-description")
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .ok_or("no sw-description")?;
    let version = desc
        .split("version")
        .nth(1)
        .and_then(|r| r.split('"').nth(1))
        .ok_or("no software.version")?
        .to_owned();
    let names: Vec<String> = crate::swu::parse_images(&desc)?
        .iter()
        .filter_map(|img| {
            img.iter()
                .find(|(k, _)| k == "name")
                .map(|(_, v)| v.clone())
        })
        .collect();
    Ok((format!("tcu-{}", names.join("+")), version))
}

impl ManagementApi for Hawkbit {
    /// Creates a software module for the bundle, uploads the bundle as its
    /// artifact (checking the hashes hawkBit reports), and a distribution
    /// set holding it; the set's id, which is what targets are assigned.
    fn upload(&mut self, bundle: &Path) -> Result<String, OtaError> {
        let bytes = std::fs::read(bundle).map_err(|e| OtaError::Io {
            what: format!("reading {}", bundle.display()),
            message: e.to_string(),
        })?;
        let (name, version) = bundle_identity(&bytes).map_err(|m| OtaError::Io {
            what: format!("reading the bundle {}", bundle.display()),
            message: m,
        })?;
        let what = format!("creating software module {name} {version}");
        let module =
            json!([{"name": name, "version": version, "type": "application", "vendor": "tcu"}]);
        let created = json_of(
            &what,
            send(&what, self.post("/softwaremodules").json(&module))?,
        )?;
        let module_id = first_id(&what, &created)?;

        let file = bundle
            .file_name()
            .map(|n| n.to_string_lossy().replace('"', "_"))
            .unwrap_or_else(|| "bundle.swu".into());
        let (content_type, body) = multipart_file(&file, &bytes);
        let what = format!(
            "uploading {} to software module {module_id}",
            bundle.display()
        );
        let artifact = json_of(
            &what,
            send(
                &what,
                self.post(&format!("/softwaremodules/{module_id}/artifacts"))
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body),
            )?,
        )?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let reported = artifact["hashes"]["sha256"].as_str().unwrap_or_default();
        if !reported.eq_ignore_ascii_case(&sha256) {
            return Err(OtaError::Api {
                what,
                status: 201,
                body: format!("the server stored sha256 `{reported}`, the bundle's is {sha256}"),
            });
        }

        let what = format!("creating distribution set {name} {version}");
        let set = json!([{"name": name, "version": version, "type": "app", "modules": [{"id": module_id.parse::<u64>().unwrap_or_default()}]}]);
        let created = json_of(
            &what,
            send(&what, self.post("/distributionsets").json(&set))?,
        )?;
        first_id(&what, &created)
    }

    fn assign(&mut self, device: &str, software: &str) -> Result<(), OtaError> {
        let what = format!("assigning distribution set {software} to {device}");
        let v = json_of(
            &what,
            send(
                &what,
                self.post(&format!("/distributionsets/{software}/assignedTargets"))
                    .json(&json!([{"id": device, "type": "forced"}])),
            )?,
        )?;
        let n = v["assigned"].as_u64().unwrap_or(0) + v["alreadyAssigned"].as_u64().unwrap_or(0);
        if n == 0 {
            return Err(OtaError::Api {
                what,
                status: 200,
                body: format!("nothing assigned: {v}"),
            });
        }
        Ok(())
    }

    fn device(&mut self, device: &str) -> Result<DeviceStatus, OtaError> {
        let what = format!("reading target {device}");
        let t = json_of(&what, send(&what, self.get(&format!("/targets/{device}")))?)?;
        let what = format!("reading the installed set of {device}");
        let resp = send(&what, self.get(&format!("/targets/{device}/installedDS")))?;
        let sw_version = if resp.status().as_u16() == 204 {
            None
        } else {
            json_of(&what, resp)?["version"].as_str().map(str::to_owned)
        };
        #[derive(Deserialize)]
        struct Status {
            #[serde(rename = "updateStatus")]
            update_status: Option<String>,
        }
        let s: Status = serde_json::from_value(t).map_err(|e| OtaError::Api {
            what: what.clone(),
            status: 200,
            body: e.to_string(),
        })?;
        Ok(DeviceStatus {
            id: device.to_owned(),
            sw_version,
            last_state: s.update_status,
            hardware: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_is_named_after_its_images_and_versioned_as_its_sw_description() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libbattery.so");
        std::fs::write(&lib, b"not really a library").unwrap();
        let out = dir.path().join("b.swu");
        crate::swu::write(
            &out,
            "2.1.0",
            &["sim-1".into()],
            &[crate::swu::Image {
                name: "battery".into(),
                version: "2.1.0".into(),
                file: lib,
                sig: None,
            }],
        )
        .unwrap();
        let (name, version) = bundle_identity(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!((name.as_str(), version.as_str()), ("tcu-battery", "2.1.0"));
        assert!(bundle_identity(b"junk").is_err());
    }
}
