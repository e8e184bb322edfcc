//! Where the `tcu` binary's log goes and how its lines look.
//!
//! Three line styles: `text` for a person at a terminal (the default),
//! `journald` when systemd connects the output to the journal (detected
//! from `JOURNAL_STREAM`, which systemd sets to the device and inode of
//! that stream): no timestamps, since the journal stamps every line itself,
//! and a `<N>` syslog priority prefix, so the journal files each line at its
//! level instead of all at info; and `json`, one object per line for log
//! shippers. The level comes from `--log-level`, else `RUST_LOG`, else
//! `info`. While the dashboard owns the terminal the log goes to its event
//! panel and to a file, whose path is printed on exit.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The filter when neither `--log-level` nor `RUST_LOG` says otherwise:
/// the embedded broker's own info lines are noise to an operator.
pub const DEFAULT_FILTER: &str = "info,rumqttd=warn";

/// The log could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `--log-level` (or `RUST_LOG`) is not a filter.
    #[error("{source_name}: `{value}` is not a log level or filter: {message}")]
    Filter {
        /// `--log-level` or `RUST_LOG`.
        source_name: &'static str,
        /// What was given.
        value: String,
        /// Why it does not parse.
        message: String,
    },
    /// The log file could not be created.
    #[error("creating the log file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for a person: under systemd's journal without timestamps and
    /// with syslog priority prefixes, else with timestamps.
    Text,
    /// One JSON object per line (timestamp, level, target, message, fields).
    Json,
}

/// The log options every command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "TCU_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Log level (error, warn, info, debug, trace) or a filter such as
    /// `info,tcu_link=debug`; without it `RUST_LOG` is read, else `info`.
    #[arg(long, global = true, env = "TCU_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Also write the log to FILE (the dashboard's default:
    /// `tcu-dashboard.log` in the temporary directory).
    #[arg(long, global = true, env = "TCU_LOG_FILE", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// How one line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Timestamp, level, message, fields; colours at a terminal.
    Text {
        /// ANSI colours.
        ansi: bool,
    },
    /// `<N>` priority prefix, no timestamp.
    Journald,
    /// One JSON object.
    Json,
}

impl Style {
    /// The style for `format` given the `JOURNAL_STREAM` value and whether
    /// stdout is that stream (`stdout_id`: its `device:inode`).
    pub fn choose(
        format: LogFormat,
        journal_stream: Option<&str>,
        stdout_id: Option<(u64, u64)>,
        terminal: bool,
    ) -> Self {
        match format {
            LogFormat::Json => Self::Json,
            LogFormat::Text if is_journal(journal_stream, stdout_id) => Self::Journald,
            LogFormat::Text => Self::Text { ansi: terminal },
        }
    }
}

/// Whether stdout is the journal stream systemd announced. When stdout
/// cannot be examined, the variable alone decides.
pub fn is_journal(journal_stream: Option<&str>, stdout_id: Option<(u64, u64)>) -> bool {
    let Some(value) = journal_stream else {
        return false;
    };
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    match (dev.parse::<u64>(), ino.parse::<u64>(), stdout_id) {
        (Ok(d), Ok(i), Some(id)) => (d, i) == id,
        (Ok(_), Ok(_), None) => true,
        _ => false,
    }
}

/// The syslog priority of a level, as the journal reads it from `<N>`.
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Formats events as [`Style::Journald`] or [`Style::Json`] lines.
#[derive(Debug, Clone, Copy)]
pub struct LineFormat {
    json: bool,
}

impl LineFormat {
    /// Journald lines (`json` false) or JSON lines.
    pub fn new(json: bool) -> Self {
        Self { json }
    }
}

/// Collects an event's message and fields.
#[derive(Debug, Default)]
struct Fields {
    message: String,
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.record_value(field, serde_json::Value::String(text));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_value(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_value(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_value(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.record_value(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.record_value(field, value.into());
    }
}

impl Fields {
    fn record_value(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.rest.insert(field.name().to_owned(), value);
        }
    }
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        if self.json {
            let mut line = serde_json::Map::new();
            // Shippers want the time of the event, not of their reading.
            let now = std::time::SystemTime::now();
            line.insert(
                "timestamp".into(),
                humantime::format_rfc3339_micros(now).to_string().into(),
            );
            line.insert("level".into(), meta.level().as_str().into());
            line.insert("target".into(), meta.target().into());
            line.insert("message".into(), fields.message.into());
            line.extend(fields.rest);
            writeln!(writer, "{}", serde_json::Value::Object(line))
        } else {
            let mut text = format!("<{}>{}", syslog_priority(*meta.level()), fields.message);
            for (k, v) in &fields.rest {
                match v {
                    serde_json::Value::String(s) => write!(text, " {k}={s}")?,
                    other => write!(text, " {k}={other}")?,
                }
            }
            // One journal entry per line: a newline inside a message would
            // start an entry at the default priority.
            writeln!(writer, "{}", text.replace('\n', " "))
        }
    }
}

/// The filter from `--log-level`, else `RUST_LOG`, else [`DEFAULT_FILTER`].
pub fn filter(
    level: Option<&str>,
    rust_log: Option<&str>,
) -> Result<tracing_subscriber::EnvFilter, LogError> {
    let (source_name, value) = match (level, rust_log) {
        (Some(l), _) => ("--log-level", l),
        (None, Some(r)) if !r.trim().is_empty() => ("RUST_LOG", r),
        _ => ("default", DEFAULT_FILTER),
    };
    tracing_subscriber::EnvFilter::try_new(value).map_err(|e| LogError::Filter {
        source_name,
        value: value.to_owned(),
        message: e.to_string(),
    })
}

/// Device and inode of stdout, to compare with `JOURNAL_STREAM`.
fn stdout_id() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/self/fd/1").ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Installs the global subscriber for `args`: to stdout, or with
/// `dashboard` into its event log and a file. Returns the log file, if any.
pub fn init(
    args: &LogArgs,
    dashboard: Option<&tcu_dashboard::LogSink>,
) -> Result<Option<PathBuf>, LogError> {
    let filter = filter(
        args.log_level.as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    )?;
    let file = match (&args.log_file, dashboard) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(_)) => Some(std::env::temp_dir().join("tcu-dashboard.log")),
        (None, None) => None,
    };
    let opened = match &file {
        Some(path) => Some(open_log(path)?),
        None => None,
    };
    match dashboard {
        Some(sink) => {
            // The panel and the file are read by people, never by the journal.
            let style = match args.log_format {
                LogFormat::Json => Style::Json,
                LogFormat::Text => Style::Text { ansi: false },
            };
            match opened {
                Some(f) => install(style, filter, sink.clone().and(Mutex::new(f))),
                None => install(style, filter, sink.clone()),
            }
        }
        None => {
            let terminal =
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let journal = std::env::var("JOURNAL_STREAM").ok();
            let style = Style::choose(args.log_format, journal.as_deref(), stdout_id(), terminal);
            match opened {
                Some(f) => install(style, filter, std::io::stdout.and(Mutex::new(f))),
                None => install(style, filter, std::io::stdout),
            }
        }
    }
    Ok(file)
}

fn open_log(path: &Path) -> Result<std::fs::File, LogError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogError::File {
            path: path.to_owned(),
            source,
        })
}

/// A subscriber writing `style` lines to `writer`.
pub fn subscriber<W>(
    style: Style,
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    match style {
        Style::Text { ansi } => Box::new(fmt.with_ansi(ansi).finish()),
        Style::Journald => Box::new(
            fmt.with_ansi(false)
                .event_format(LineFormat::new(false))
                .finish(),
        ),
        Style::Json => Box::new(
            fmt.with_ansi(false)
                .event_format(LineFormat::new(true))
                .finish(),
        ),
    }
}

fn install<W>(style: Style, filter: tracing_subscriber::EnvFilter, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::util::SubscriberInitExt;
    // Also bridges the `log` records of dependencies; a second install (a
    // test that calls in twice) keeps the first.
    let _ = subscriber(style, filter, writer).try_init();
}

#[cfg(test)]
mod tests;
