//! Reading a trace file back, one row at a time, parsing only the columns
//! asked for (a replay of one subsystem needs a handful of an hour's
//! thousands of values per tick).

use super::{Header, MAGIC, PluginEntry, RecordError, decode_xor};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// A trace file, positioned after its header.
#[derive(Debug)]
pub struct TraceReader {
    path: PathBuf,
    input: BufReader<File>,
    header: Header,
    line: usize,
    buf: String,
    bytes: Vec<u8>,
    wanted: Vec<bool>,
    bits: Vec<u64>,
    values: Vec<f64>,
}

impl TraceReader {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        let file = File::open(path).map_err(|source| RecordError::Io {
            action: "opening",
            path: path.to_owned(),
            source,
        })?;
        // A device or a pipe (`/dev/zero`) could feed one endless line.
        let regular = file.metadata().is_ok_and(|m| m.is_file());
        if !regular {
            return Err(RecordError::Format {
                path: path.to_owned(),
                line: 1,
                message: "not a regular file".into(),
            });
        }
        let mut r = Self {
            path: path.to_owned(),
            input: BufReader::with_capacity(256 << 10, file),
            header: Header {
                tick_rate_hz: 0.0,
                seed: 0,
                vin: String::new(),
                plugins: Vec::new(),
                columns: Vec::new(),
            },
            line: 0,
            buf: String::new(),
            bytes: Vec::with_capacity(4096),
            wanted: Vec::new(),
            bits: Vec::new(),
            values: Vec::new(),
        };
        r.read_header()?;
        Ok(r)
    }

    fn format(&self, message: impl Into<String>) -> RecordError {
        RecordError::Format {
            path: self.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    /// Reads the next line into `buf` without its line end; false at the
    /// end of the file.
    fn next_line(&mut self) -> Result<bool, RecordError> {
        self.buf.clear();
        let n = self
            .input
            .read_line(&mut self.buf)
            .map_err(|source| RecordError::Io {
                action: "reading",
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.ends_with('\n') {
            self.buf.pop();
            if self.buf.ends_with('\r') {
                self.buf.pop();
            }
        }
        Ok(true)
    }

    fn read_header(&mut self) -> Result<(), RecordError> {
        if !self.next_line()? || self.buf != MAGIC {
            self.line = self.line.max(1);
            return Err(self.format(format!(
                "not a tcu trace (the first line must be `{MAGIC}`)"
            )));
        }
        let mut rate = None;
        loop {
            if !self.next_line()? {
                return Err(self.format("the header ends without a `tick,...` column line"));
            }
            let line = std::mem::take(&mut self.buf);
            if let Some(cols) = line.strip_prefix("tick") {
                self.header.columns = match cols.strip_prefix(',') {
                    Some(rest) => rest.split(',').map(str::to_owned).collect(),
                    None if cols.is_empty() => Vec::new(),
                    None => return Err(self.format("the column line must start with `tick,`")),
                };
                break;
            }
            let Some(rest) = line.strip_prefix("# ") else {
                return Err(self.format(format!(
                    "expected a `# key value` header line, found `{line}`"
                )));
            };
            let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
            match key {
                "tick_rate_hz" => {
                    let hz = value
                        .parse::<f64>()
                        .ok()
                        .filter(|hz| hz.is_finite() && *hz > 0.0)
                        .ok_or_else(|| {
                            self.format(format!("tick_rate_hz `{value}` is not a positive number"))
                        })?;
                    rate = Some(hz);
                }
                "seed" => {
                    self.header.seed = value.parse().map_err(|_| {
                        self.format(format!("seed `{value}` is not a whole number"))
                    })?;
                }
                "vin" => self.header.vin = value.to_owned(),
                "plugin" => {
                    let entry = parse_plugin(value).map_err(|m| self.format(m))?;
                    self.header.plugins.push(entry);
                }
                // Keys of later versions of the format are skipped.
                _ => {}
            }
        }
        self.header.tick_rate_hz =
            rate.ok_or_else(|| self.format("the header has no tick_rate_hz"))?;
        let n = self.header.columns.len();
        self.wanted = vec![true; n];
        self.bits = vec![0; n];
        self.values = vec![0.0; n];
        Ok(())
    }

    /// What the header says.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line last read (for error messages of the caller).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column of `signal`, if the trace has it.
    pub fn column(&self, signal: &str) -> Option<usize> {
        self.header.columns.iter().position(|c| c == signal)
    }

    /// Decodes only the columns `keep` says yes to from here on (the
    /// others stay at whatever they were in [`Self::values`]; call before
    /// the first row).
    pub fn select(&mut self, keep: impl Fn(&str) -> bool) {
        for (w, c) in self.wanted.iter_mut().zip(&self.header.columns) {
            *w = keep(c);
        }
    }

    /// Reads the next row; its tick, or `None` at the end of the file.
    /// Values of the selected columns are then in [`Self::values`].
    pub fn next_row(&mut self) -> Result<Option<u64>, RecordError> {
        self.bytes.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.bytes)
            .map_err(|source| RecordError::Io {
                action: "reading",
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let mut row: &[u8] = &self.bytes;
        if let [rest @ .., b'\n'] = row {
            row = rest;
        }
        if let [rest @ .., b'\r'] = row {
            row = rest;
        }
        let mut cells = row.split(|b| *b == b',');
        let tick_cell = cells.next().unwrap_or_default();
        let tick = std::str::from_utf8(tick_cell)
            .ok()
            .and_then(|t| t.parse::<u64>().ok());
        let Some(tick) = tick else {
            let text = String::from_utf8_lossy(tick_cell).into_owned();
            return Err(self.format(format!("tick `{text}` is not a whole number")));
        };
        let mut count = 0;
        let mut bad = None;
        for (i, cell) in cells.enumerate() {
            count = i + 1;
            if i >= self.wanted.len() || cell.is_empty() || !self.wanted[i] {
                continue;
            }
            match decode_xor(cell) {
                Some(x) => {
                    self.bits[i] ^= x;
                    self.values[i] = f64::from_bits(self.bits[i]);
                }
                None => {
                    bad = Some((i, String::from_utf8_lossy(cell).into_owned()));
                    break;
                }
            }
        }
        if let Some((i, cell)) = bad {
            let column = &self.header.columns[i];
            return Err(self.format(format!("`{column}`: `{cell}` is not a value cell")));
        }
        if count != self.wanted.len() {
            return Err(self.format(format!(
                "the row has {count} values, the column line names {}",
                self.wanted.len()
            )));
        }
        Ok(Some(tick))
    }

    /// Values of the row last read, by column.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

/// Parses `NAME VERSION reads=A;B writes=C;D`.
fn parse_plugin(text: &str) -> Result<PluginEntry, String> {
    let mut parts = text.split(' ');
    let bad = || format!("plugin line `{text}` is not `NAME VERSION reads=A;B writes=C;D`");
    let (Some(name), Some(version), Some(reads), Some(writes), None) = (
        parts.next(),
        parts.next(),
        parts.next().and_then(|r| r.strip_prefix("reads=")),
        parts.next().and_then(|w| w.strip_prefix("writes=")),
        parts.next(),
    ) else {
        return Err(bad());
    };
    let list = |s: &str| -> Vec<String> {
        s.split(';')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(PluginEntry {
        name: name.to_owned(),
        version: version.to_owned(),
        reads: list(reads),
        writes: list(writes),
    })
}

/// The trace files of `path`: the file itself, or every file directly in
/// the directory (hidden ones left out), sorted by name.
pub fn trace_files(path: &Path) -> Result<Vec<PathBuf>, RecordError> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let io = |source| RecordError::Io {
        action: "listing",
        path: path.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let p = entry.map_err(io)?.path();
        let hidden = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if p.is_file() && !hidden {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}
