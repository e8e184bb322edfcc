use super::*;
use std::sync::Arc;

/// Captures what a subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

fn lines(style: Style, emit: impl FnOnce()) -> Vec<String> {
    let capture = Capture::default();
    let filter = tracing_subscriber::EnvFilter::new("trace");
    tracing::subscriber::with_default(subscriber(style, filter, capture.clone()), emit);
    let bytes = capture.0.lock().unwrap().clone();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn journald_lines_carry_the_syslog_priority_of_each_level_and_no_timestamp() {
    let got = lines(Style::Journald, || {
        tracing::error!("e");
        tracing::warn!(count = 3, "w");
        tracing::info!(vin = "WTCU", "i");
        tracing::debug!("d");
        tracing::trace!("t");
    });
    assert_eq!(
        got,
        ["<3>e", "<4>w count=3", "<6>i vin=WTCU", "<7>d", "<7>t"],
        "{got:?}"
    );
}

#[test]
fn a_multi_line_message_stays_one_journal_entry() {
    let got = lines(Style::Journald, || tracing::warn!("first\nsecond"));
    assert_eq!(got, ["<4>first second"]);
}

#[test]
fn json_lines_parse_and_carry_level_message_and_fields() {
    let got = lines(Style::Json, || {
        tracing::warn!(
            count = 3,
            ok = true,
            ratio = 0.5,
            vin = "WTCU",
            "dropped {}",
            2
        );
        tracing::info!("plain");
    });
    assert_eq!(got.len(), 2, "{got:?}");
    let first: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(first["level"], "WARN");
    assert_eq!(first["message"], "dropped 2");
    assert_eq!(first["count"], 3);
    assert_eq!(first["ok"], true);
    assert_eq!(first["ratio"], 0.5);
    assert_eq!(first["vin"], "WTCU");
    assert!(
        humantime::parse_rfc3339(first["timestamp"].as_str().unwrap()).is_ok(),
        "{first}"
    );
    let second: serde_json::Value = serde_json::from_str(&got[1]).unwrap();
    assert_eq!(second["message"], "plain");
}

#[test]
fn text_lines_keep_their_timestamp() {
    let got = lines(Style::Text { ansi: false }, || tracing::info!("hello"));
    assert_eq!(got.len(), 1);
    assert!(got[0].ends_with("INFO hello"), "{got:?}");
    assert!(got[0].starts_with("20"), "no timestamp: {got:?}");
}

#[test]
fn the_journal_style_is_chosen_only_when_stdout_is_the_announced_stream() {
    let text = Style::Text { ansi: false };
    assert_eq!(
        Style::choose(LogFormat::Text, Some("8:1234"), Some((8, 1234)), false),
        Style::Journald
    );
    assert_eq!(
        Style::choose(LogFormat::Text, Some("8:1234"), Some((8, 99)), false),
        text
    );
    assert_eq!(
        Style::choose(LogFormat::Text, None, Some((8, 1234)), false),
        text
    );
    assert_eq!(
        Style::choose(LogFormat::Text, Some("junk"), None, false),
        text
    );
    assert_eq!(
        Style::choose(LogFormat::Json, Some("8:1234"), Some((8, 1234)), false),
        Style::Json
    );
}

#[test]
fn log_level_wins_over_rust_log_and_a_bad_filter_names_its_source() {
    assert!(filter(Some("debug"), Some("[")).is_ok());
    let e = filter(None, Some("info,=[")).unwrap_err().to_string();
    assert!(e.contains("RUST_LOG"), "{e}");
    let e = filter(Some("info,=["), None).unwrap_err().to_string();
    assert!(e.contains("--log-level"), "{e}");
    assert!(filter(None, None).is_ok());
}
