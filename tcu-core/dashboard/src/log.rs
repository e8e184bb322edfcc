//! Tracing output while the dashboard owns the terminal: a
//! [`MakeWriter`](tracing_subscriber::fmt::MakeWriter) that turns every
//! formatted line into an event-log entry instead of writing to the screen
//! (which would tear the frame). Lines written before the dashboard starts
//! are kept and shown once it does.

use super::snapshot::Shared;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

/// Where tracing lines go while the dashboard runs. Clone it into the
/// subscriber (`fmt().with_writer(sink)`) and hand it to the dashboard.
#[derive(Debug, Clone, Default)]
pub struct LogSink {
    shared: Arc<Mutex<Option<Arc<Shared>>>>,
    early: Arc<Mutex<Vec<String>>>,
}

impl LogSink {
    /// A sink that holds lines until [`LogSink::attach`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends lines (and the ones held so far) to `shared`'s event log.
    pub fn attach(&self, shared: Arc<Shared>) {
        let early = std::mem::take(&mut *self.early.lock().unwrap_or_else(PoisonError::into_inner));
        for line in early {
            shared.log(line);
        }
        *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = Some(shared);
    }

    fn push(&self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        let shared = self
            .shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match shared {
            Some(s) => s.log(line),
            None => self
                .early
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line.to_owned()),
        }
    }
}

/// One formatted event, sent on drop.
#[derive(Debug)]
pub struct LogLine {
    sink: LogSink,
    buf: Vec<u8>,
}

impl io::Write for LogLine {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        for line in text.lines() {
            self.sink.push(line);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            sink: self.clone(),
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tracing_subscriber::fmt::MakeWriter;

    #[test]
    fn lines_written_before_attach_reach_the_event_log() {
        let sink = LogSink::new();
        let mut w = sink.make_writer();
        w.write_all(b"INFO vehicle assembled\n").unwrap();
        drop(w);
        let shared = Arc::new(Shared::default());
        sink.attach(shared.clone());
        let mut w = sink.make_writer();
        w.write_all(b"WARN late\n").unwrap();
        drop(w);
        let log = shared.frame().log;
        assert_eq!(log, ["INFO vehicle assembled", "WARN late"]);
    }
}
