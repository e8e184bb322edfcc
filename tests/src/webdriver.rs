//! A small client of the W3C WebDriver HTTP API for the browser tests:
//! Debian's `chromedriver` (package `chromium-driver`) on an ephemeral
//! loopback port, started and stopped by PID, driving one headless
//! Chromium (package `chromium`) whose profile lives in a temporary
//! directory. It knows the few commands the tests use: navigate, find by
//! CSS selector, text, attribute, click, type, run a script, send a
//! DevTools command, and take a screenshot and the page source, which a
//! failing test leaves behind.
//! Every request and every wait is bounded.
//!
//! Without the two binaries [`missing`] says why, and a test skips unless
//! `TCU_REQUIRE_CHROMIUM` is set (as `scripts/test` does), where a missing
//! browser is a failure.

use crate::mqtt::free_port;
use crate::process::Running;
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Its WebDriver server.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Why the browser tests cannot run here, if they cannot.
pub fn missing() -> Option<String> {
    let absent: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).is_file())
        .collect();
    (!absent.is_empty()).then(|| {
        format!(
            "{} not installed (apt-get install chromium chromium-driver; scripts/test does)",
            absent.join(" and ")
        )
    })
}

/// True when the browser is there; otherwise panics under
/// `TCU_REQUIRE_CHROMIUM`, or prints why the test skips and returns false.
pub fn available_or_skip() -> bool {
    let Some(why) = missing() else {
        return true;
    };
    assert!(
        std::env::var_os("TCU_REQUIRE_CHROMIUM").is_none(),
        "TCU_REQUIRE_CHROMIUM is set but {why}"
    );
    eprintln!("SKIPPED: {why}");
    false
}

/// A WebDriver command that failed.
#[derive(Debug, Clone)]
pub struct WebDriverError {
    /// The command (`POST /session/.../element`).
    pub command: String,
    /// What went wrong: the WebDriver error and message, or the transport
    /// error.
    pub reason: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.command, self.reason)
    }
}

impl std::error::Error for WebDriverError {}

/// Result of a WebDriver command.
pub type WdResult<T> = Result<T, WebDriverError>;

/// A found element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(String);

/// chromedriver and one browser session in it.
#[derive(Debug)]
pub struct Browser {
    driver: Running,
    base: String,
    session: Option<String>,
    http: reqwest::blocking::Client,
    /// Profile, driver log, and what a failure leaves behind.
    dir: Option<tempfile::TempDir>,
}

impl Browser {
    /// Starts chromedriver on a free loopback port (another port when the
    /// chosen one was taken meanwhile) and a headless Chromium session.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tcu-browser-")
            .tempdir()
            .expect("temp dir");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = dir.path().join("chromedriver.log");
            let mut cmd = Command::new(CHROMEDRIVER);
            cmd.arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()));
            let mut driver = Running::start(cmd);
            let base = format!("http://127.0.0.1:{port}");
            if ready(&http, &base, &mut driver) {
                let mut b = Self {
                    driver,
                    base,
                    session: None,
                    http,
                    dir: Some(dir),
                };
                b.new_session();
                return b;
            }
            last = driver.output();
            driver.kill();
        }
        panic!("chromedriver did not start on any of five ports; last output:\n{last}");
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("the browser's directory").path()
    }

    fn new_session(&mut self) {
        let profile = self.dir().join("profile");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    // Containers often have a small /dev/shm.
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1600",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 10_000},
        }}});
        let v = self
            .call(reqwest::Method::POST, "/session", Some(caps))
            .unwrap_or_else(|e| panic!("{e}\n{}", self.driver.output()));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {v}"));
        self.session = Some(id.to_owned());
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Json>) -> WdResult<Json> {
        let command = format!("{method} {path}");
        let fail = |reason: String| WebDriverError {
            command: command.clone(),
            reason,
        };
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().map_err(|e| fail(e.to_string()))?;
        let status = r.status();
        let v: Json = r.json().map_err(|e| fail(format!("{status}: {e}")))?;
        if !status.is_success() {
            let e = &v["value"];
            return Err(fail(format!("{status} {}: {}", e["error"], e["message"])));
        }
        Ok(v["value"].clone())
    }

    fn session_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Json>,
    ) -> WdResult<Json> {
        let id = self.session.as_deref().unwrap_or("none");
        self.call(method, &format!("/session/{id}{path}"), body)
    }

    fn post(&self, path: &str, body: Json) -> WdResult<Json> {
        self.session_call(reqwest::Method::POST, path, Some(body))
    }

    fn get(&self, path: &str) -> WdResult<Json> {
        self.session_call(reqwest::Method::GET, path, None)
    }

    /// Opens `url` (waits for the page to load).
    pub fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url}))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The current URL.
    pub fn url(&self) -> WdResult<String> {
        Ok(self.get("/url")?.as_str().unwrap_or_default().to_owned())
    }

    /// The first element matching the CSS selector.
    pub fn find(&self, css: &str) -> WdResult<Element> {
        let v = self.post("/element", json!({"using": "css selector", "value": css}))?;
        element(&v).ok_or_else(|| WebDriverError {
            command: format!("find {css}"),
            reason: format!("no element reference in {v}"),
        })
    }

    /// Every element matching the CSS selector.
    pub fn find_all(&self, css: &str) -> WdResult<Vec<Element>> {
        let v = self.post("/elements", json!({"using": "css selector", "value": css}))?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(element).collect())
            .unwrap_or_default())
    }

    /// The rendered text of `el`.
    pub fn text(&self, el: &Element) -> WdResult<String> {
        let v = self.get(&format!("/element/{}/text", el.0))?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The text of the first element matching `css`.
    pub fn text_of(&self, css: &str) -> WdResult<String> {
        self.text(&self.find(css)?)
    }

    /// An attribute of `el` (`None` when it has none).
    pub fn attribute(&self, el: &Element, name: &str) -> WdResult<Option<String>> {
        let v = self.get(&format!("/element/{}/attribute/{name}", el.0))?;
        Ok(v.as_str().map(str::to_owned))
    }

    /// Clicks `el`.
    pub fn click(&self, el: &Element) -> WdResult<()> {
        self.post(&format!("/element/{}/click", el.0), json!({}))
            .map(drop)
    }

    /// Empties the input `el` and types `text` into it.
    pub fn type_into(&self, el: &Element, text: &str) -> WdResult<()> {
        self.post(&format!("/element/{}/clear", el.0), json!({}))?;
        self.post(&format!("/element/{}/value", el.0), json!({"text": text}))
            .map(drop)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and
    /// returns what it returns.
    pub fn execute(&self, script: &str, args: &[Json]) -> WdResult<Json> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
    }

    /// Sends a Chrome DevTools Protocol command (`Fetch.enable`, ...) to
    /// the page through chromedriver.
    pub fn cdp(&self, cmd: &str, params: Json) -> WdResult<Json> {
        self.post("/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
    }

    /// Waits up to `timeout` until `f` gives a value; panics naming `what`
    /// with the last error otherwise (and the failure leaves a screenshot
    /// and the page source behind).
    #[track_caller]
    pub fn wait<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&Self) -> WdResult<Option<T>>,
    ) -> T {
        let end = Instant::now() + timeout;
        let mut last = String::from("nothing yet");
        loop {
            match f(self) {
                Ok(Some(v)) => return v,
                Ok(None) => {}
                // Elements come and go while the page updates.
                Err(e) => last = e.to_string(),
            }
            assert!(
                Instant::now() < end,
                "no {what} within {timeout:?} (last error: {last})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a screenshot and the page source into the browser's
    /// directory and returns their paths.
    pub fn save_artifacts(&self) -> Vec<PathBuf> {
        let mut saved = Vec::new();
        if let Ok(Json::String(png)) = self.get("/screenshot") {
            let path = self.dir().join("screenshot.png");
            if std::fs::write(&path, decode_base64(&png)).is_ok() {
                saved.push(path);
            }
        }
        if let Ok(Json::String(html)) = self.get("/source") {
            let path = self.dir().join("page.html");
            if std::fs::write(&path, html).is_ok() {
                saved.push(path);
            }
        }
        saved
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let saved = self.save_artifacts();
            // Keep them past the test: the directory is not removed.
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("browser artifacts kept in {}:", kept.display());
            }
            for path in saved {
                eprintln!("  {}", path.display());
            }
        }
        // Ending the session makes chromedriver close the browser; only
        // then is chromedriver itself killed (by PID, in Running's drop).
        if self.session.is_some() {
            let _ = self.session_call(reqwest::Method::DELETE, "", None);
            self.session = None;
        }
        self.driver.kill();
    }
}

fn element(v: &Json) -> Option<Element> {
    v[ELEMENT].as_str().map(|s| Element(s.to_owned()))
}

/// Waits (bounded) until chromedriver answers `/status` with `ready`;
/// false when it exits first (its port was taken) or never gets ready.
fn ready(http: &reqwest::blocking::Client, base: &str, driver: &mut Running) -> bool {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if driver.exited() {
            return false;
        }
        let ok = http
            .get(format!("{base}/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .ok()
            .and_then(|r| r.json::<Json>().ok())
            .is_some_and(|v| v["value"]["ready"] == true);
        if ok {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Standard base64 (the screenshot's encoding) to bytes; stops at the
/// first character outside the alphabet (padding).
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in text.bytes().map_while(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::decode_base64;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64("aGVsbG8="), b"hello");
        assert_eq!(decode_base64("aGVsbG8h"), b"hello!");
        assert_eq!(decode_base64("aA=="), b"h");
        assert_eq!(decode_base64(""), b"");
    }
}
