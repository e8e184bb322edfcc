//! The signal catalog as the project ships it, and the one reader of its
//! TSV layout.
//!
//! `catalog/vss.tsv` holds the COVESA VSS 5.0 rows the simulator uses;
//! `catalog/overlay.tsv` the simulator's own signals, under the separate
//! `Sim.` branch, in the same columns (path, type, datatype, unit, min,
//! max, allowed, description). The host builds its catalog from these rows
//! (and checks every plugin's declarations against it); plugin tests read
//! the same rows through [`crate::testing`], so both agree by construction.
//!
//! Behind the `catalog` feature: plugin libraries do not carry it.

/// The VSS rows.
pub const VSS_TSV: &str = include_str!("../catalog/vss.tsv");
/// The simulator's own rows (`Sim.`).
pub const OVERLAY_TSV: &str = include_str!("../catalog/overlay.tsv");
/// The header line every catalog file starts with.
pub const HEADER: &str = "path\ttype\tdatatype\tunit\tmin\tmax\tallowed\tdescription";

/// One row, as written (numbers parsed, nothing else interpreted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row<'a> {
    /// 1-based line in its file.
    pub line: usize,
    /// VSS path.
    pub path: &'a str,
    /// `sensor`, `actuator`, `attribute`.
    pub kind: &'a str,
    /// VSS datatype name.
    pub datatype: &'a str,
    /// Unit, empty when none.
    pub unit: &'a str,
    /// Lower limit, where the row has one.
    pub min: Option<f64>,
    /// Upper limit, where the row has one.
    pub max: Option<f64>,
    /// Allowed values column, as written.
    pub allowed: &'a str,
    /// Description.
    pub description: &'a str,
}

/// A row that cannot be read: its line and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads every row of one catalog file: the header first, then eight
/// tab-separated columns per non-empty line, min and max numbers (or
/// empty) with min not above max.
pub fn rows(text: &str) -> Result<Vec<Row<'_>>, RowError> {
    let err = |line: usize, message: String| RowError { line, message };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h == HEADER => {}
        _ => return Err(err(1, format!("expected the header `{HEADER}`"))),
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [path, kind, datatype, unit, min, max, allowed, description] = cols[..] else {
            return Err(err(
                n,
                format!("expected 8 tab-separated columns, found {}", cols.len()),
            ));
        };
        let num = |s: &str, what: &str| -> Result<Option<f64>, RowError> {
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse::<f64>()
                    .map(Some)
                    .map_err(|_| err(n, format!("`{path}`: {what} `{s}` is not a number")))
            }
        };
        let (min, max) = (num(min, "min")?, num(max, "max")?);
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            return Err(err(n, format!("`{path}`: min {a} is above max {b}")));
        }
        out.push(Row {
            line: n,
            path,
            kind,
            datatype,
            unit,
            min,
            max,
            allowed,
            description,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_files_read_without_error() {
        assert!(rows(VSS_TSV).unwrap().len() > 50);
        assert!(
            rows(OVERLAY_TSV)
                .unwrap()
                .iter()
                .all(|r| r.path.starts_with("Sim."))
        );
    }

    #[test]
    fn bad_rows_name_their_line() {
        let text = format!("{HEADER}\nA\tsensor\tfloat\t\t\t\t\tok\nB\tsensor\n");
        assert_eq!(rows(&text).unwrap_err().line, 3);
        let text = format!("{HEADER}\nA\tsensor\tfloat\t\t5\t1\t\tbad\n");
        let e = rows(&text).unwrap_err();
        assert!(e.message.contains("min 5 is above max 1"), "{e:?}");
        assert_eq!(rows("nope").unwrap_err().line, 1);
    }
}
