//! Rollout tooling: upload a bundle to a server and assign it to a device,
//! so that a test rollout is one command in a pipeline.
//!
//! [`ManagementApi`] is the seam: [`Goosebit`] speaks goosebit's REST API
//! (`POST /login` with a form, `PUT /api/v1/software` multipart upload,
//! `PATCH /api/v1/devices` to assign, `GET /api/v1/devices/{id}`);
//! [`hawkbit::Hawkbit`] speaks hawkBit's Management API (software modules,
//! artifacts, distribution sets, target assignment, rollouts in groups).

pub mod hawkbit;

use crate::OtaError;
use reqwest::blocking::Client;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// What a device looks like on the server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeviceStatus {
    /// Id.
    pub id: String,
    /// Version the server believes is installed.
    #[serde(default)]
    pub sw_version: Option<String>,
    /// Update state (`finished`, `error`, `running`, `registered`, ...).
    #[serde(default)]
    pub last_state: Option<String>,
    /// Hardware the server files the device under (from its configData).
    #[serde(default)]
    pub hardware: Option<Hardware>,
}

/// A device's hardware as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Hardware {
    /// Board or model (goosebit: configData `hw_boardname`).
    #[serde(default)]
    pub model: Option<String>,
    /// Revision (goosebit: configData `hw_revision`).
    #[serde(default)]
    pub revision: Option<String>,
}

/// A server's management side.
pub trait ManagementApi {
    /// Uploads a bundle; returns the server's id of the software.
    fn upload(&mut self, bundle: &Path) -> Result<String, OtaError>;
    /// Assigns software `software` to device `device`.
    fn assign(&mut self, device: &str, software: &str) -> Result<(), OtaError>;
    /// What the server knows about `device`.
    fn device(&mut self, device: &str) -> Result<DeviceStatus, OtaError>;
}

/// A `multipart/form-data` body of one file field `file` named `name`
/// (by hand: one field needs no extra dependency); its content type and
/// bytes.
pub(crate) fn multipart_file(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("tcu-ota-{:016x}", bytes.len() as u64 ^ 0x5eed_f00d);
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// goosebit's API.
#[derive(Debug)]
pub struct Goosebit {
    base: String,
    client: Client,
    token: String,
}

pub(crate) fn status_err(what: &str, resp: reqwest::blocking::Response) -> OtaError {
    let status = resp.status().as_u16();
    let body = resp.text().unwrap_or_default();
    OtaError::Api {
        what: what.into(),
        status,
        body: body.chars().take(300).collect(),
    }
}

impl Goosebit {
    /// Logs in as `user`.
    pub fn login(base: &str, user: &str, password: &str) -> Result<Self, OtaError> {
        let base = base.trim_end_matches('/').to_owned();
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| OtaError::http("building the HTTP client", &e))?;
        let resp = client
            .post(format!("{base}/login"))
            .form(&[("username", user), ("password", password)])
            .send()
            .map_err(|e| OtaError::http("logging in", &e))?;
        if !resp.status().is_success() {
            return Err(status_err("logging in", resp));
        }
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
        }
        let t: Token = resp.json().map_err(|e| OtaError::http("logging in", &e))?;
        Ok(Self {
            base,
            client,
            token: t.access_token,
        })
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

impl ManagementApi for Goosebit {
    fn upload(&mut self, bundle: &Path) -> Result<String, OtaError> {
        let bytes = std::fs::read(bundle).map_err(|e| OtaError::Io {
            what: format!("reading {}", bundle.display()),
            message: e.to_string(),
        })?;
        let name = bundle
            .file_name()
            .map(|n| n.to_string_lossy().replace('"', "_"))
            .unwrap_or_else(|| "bundle.swu".into());
        let (content_type, body) = multipart_file(&name, &bytes);
        let resp = self
            .client
            .put(format!("{}/api/v1/software", self.base))
            .header(reqwest::header::AUTHORIZATION, self.auth())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .map_err(|e| OtaError::http("uploading", &e))?;
        if !resp.status().is_success() {
            return Err(status_err("uploading the bundle", resp));
        }
        #[derive(Deserialize)]
        struct Id {
            id: serde_json::Value,
        }
        let id: Id = resp.json().map_err(|e| OtaError::http("uploading", &e))?;
        Ok(match id.id {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
    }

    fn assign(&mut self, device: &str, software: &str) -> Result<(), OtaError> {
        let resp = self
            .client
            .patch(format!("{}/api/v1/devices", self.base))
            .header(reqwest::header::AUTHORIZATION, self.auth())
            .json(&serde_json::json!({"devices": [device], "software": software}))
            .send()
            .map_err(|e| OtaError::http("assigning", &e))?;
        if !resp.status().is_success() {
            return Err(status_err(&format!("assigning to {device}"), resp));
        }
        Ok(())
    }

    fn device(&mut self, device: &str) -> Result<DeviceStatus, OtaError> {
        // The list, not `GET /api/v1/devices/{id}`: goosebit 0.2.12 answers
        // 500 there once software is assigned to the device.
        let resp = self
            .client
            .get(format!("{}/api/v1/devices", self.base))
            .header(reqwest::header::AUTHORIZATION, self.auth())
            .send()
            .map_err(|e| OtaError::http("reading the devices", &e))?;
        if !resp.status().is_success() {
            return Err(status_err("reading the devices", resp));
        }
        #[derive(Deserialize)]
        struct List {
            devices: Vec<DeviceStatus>,
        }
        let list: List = resp
            .json()
            .map_err(|e| OtaError::http("reading the devices", &e))?;
        list.devices
            .into_iter()
            .find(|d| d.id == device)
            .ok_or_else(|| OtaError::Api {
                what: format!("reading device {device}"),
                status: 404,
                body: "no such device".into(),
            })
    }
}
