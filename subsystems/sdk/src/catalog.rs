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
//! `catalog/limits.tsv` is the vehicle's own overlay on top of both, the way
//! a production vehicle narrows the standard catalog: a min and a max for
//! signals VSS leaves open (a cabin setpoint has no range in VSS, and a car
//! does not accept 900 °C), each with a note saying where the limit comes
//! from. Columns: path, min, max, note.
//!
//! Behind the `catalog` feature: plugin libraries do not carry it.

/// The VSS rows.
pub const VSS_TSV: &str = include_str!("../catalog/vss.tsv");
/// The simulator's own rows (`Sim.`).
pub const OVERLAY_TSV: &str = include_str!("../catalog/overlay.tsv");
/// The vehicle's limits on signals of the two files above.
pub const LIMITS_TSV: &str = include_str!("../catalog/limits.tsv");
/// The header line every catalog file starts with.
pub const HEADER: &str = "path\ttype\tdatatype\tunit\tmin\tmax\tallowed\tdescription";
/// The header line of the limits file.
pub const LIMITS_HEADER: &str = "path\tmin\tmax\tnote";
/// The diagnostic trouble codes each plugin can raise (see [`crate::dtc`]).
pub const DTC_TSV: &str = include_str!("../catalog/dtc.tsv");
/// The header line of the DTC file.
pub const DTC_HEADER: &str = "signal\tbit\tsubsystem\tfault\tcode\tdescription\teffect";

/// One row of the DTC file: a fault a plugin can raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtcRow<'a> {
    /// 1-based line in its file.
    pub line: usize,
    /// The plugin's `ActiveFaults` signal.
    pub signal: &'a str,
    /// The fault's bit in that signal (0..32).
    pub bit: u32,
    /// The subsystem that raises it.
    pub subsystem: &'a str,
    /// The fault's name (the command is `fault.<name>`).
    pub fault: &'a str,
    /// The SAE J2012-style code.
    pub code: &'a str,
    /// What the code means.
    pub description: &'a str,
    /// How the car degrades while it is active.
    pub effect: &'a str,
}

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

/// One row of the limits file: the vehicle's own bounds of a signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit<'a> {
    /// 1-based line in its file.
    pub line: usize,
    /// VSS path of the signal limited.
    pub path: &'a str,
    /// Lowest value the vehicle accepts.
    pub min: f64,
    /// Highest value the vehicle accepts.
    pub max: f64,
    /// Where the limit comes from.
    pub note: &'a str,
}

fn err(line: usize, message: String) -> RowError {
    RowError { line, message }
}

/// The non-empty lines after `header` (which must come first), each split
/// into exactly `N` tab-separated fields, with their 1-based line.
fn records<'a, const N: usize>(
    text: &'a str,
    header: &str,
) -> Result<Vec<(usize, [&'a str; N])>, RowError> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h == header => {}
        _ => return Err(err(1, format!("expected the header `{header}`"))),
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let found = cols.len();
        let cols = <[&str; N]>::try_from(cols).map_err(|_| {
            err(
                i + 1,
                format!("expected {N} tab-separated columns, found {found}"),
            )
        })?;
        out.push((i + 1, cols));
    }
    Ok(out)
}

/// A min or max column: a finite number, or `None` when empty.
fn bound(line: usize, path: &str, what: &str, s: &str) -> Result<Option<f64>, RowError> {
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(err(
            line,
            format!("`{path}`: {what} `{s}` is not a finite number"),
        )),
    }
}

fn ordered(line: usize, path: &str, min: Option<f64>, max: Option<f64>) -> Result<(), RowError> {
    match (min, max) {
        (Some(a), Some(b)) if a > b => {
            Err(err(line, format!("`{path}`: min {a} is above max {b}")))
        }
        _ => Ok(()),
    }
}

/// Reads every row of one catalog file: the header first, then eight
/// tab-separated columns per non-empty line, min and max numbers (or
/// empty) with min not above max.
pub fn rows(text: &str) -> Result<Vec<Row<'_>>, RowError> {
    let mut out = Vec::new();
    for (n, [path, kind, datatype, unit, min, max, allowed, description]) in records(text, HEADER)?
    {
        let (min, max) = (bound(n, path, "min", min)?, bound(n, path, "max", max)?);
        ordered(n, path, min, max)?;
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

/// Reads every row of the DTC file: the header first, then seven
/// tab-separated columns per non-empty line; the bit is below 32 and the
/// code J2012-shaped ([`crate::dtc::is_code`]).
pub fn dtcs(text: &str) -> Result<Vec<DtcRow<'_>>, RowError> {
    let mut out = Vec::new();
    for (n, [signal, bit, subsystem, fault, code, description, effect]) in
        records(text, DTC_HEADER)?
    {
        let bit = bit
            .parse::<u32>()
            .ok()
            .filter(|b| *b < 32)
            .ok_or_else(|| err(n, format!("`{code}`: bit `{bit}` is not a number below 32")))?;
        if !crate::dtc::is_code(code) {
            return Err(err(
                n,
                format!("`{code}` is not a letter P, C, B or U and four hex digits"),
            ));
        }
        out.push(DtcRow {
            line: n,
            signal,
            bit,
            subsystem,
            fault,
            code,
            description,
            effect,
        });
    }
    Ok(out)
}

/// Reads every row of the limits file: the header first, then four
/// tab-separated columns per non-empty line; min and max are both required,
/// min not above max, and the note says where the limit comes from.
pub fn limits(text: &str) -> Result<Vec<Limit<'_>>, RowError> {
    let mut out = Vec::new();
    for (n, [path, min, max, note]) in records(text, LIMITS_HEADER)? {
        let (Some(min), Some(max)) = (bound(n, path, "min", min)?, bound(n, path, "max", max)?)
        else {
            return Err(err(n, format!("`{path}`: a limit needs both min and max")));
        };
        ordered(n, path, Some(min), Some(max))?;
        if note.trim().is_empty() {
            return Err(err(
                n,
                format!("`{path}`: the note saying where the limit comes from is empty"),
            ));
        }
        out.push(Limit {
            line: n,
            path,
            min,
            max,
            note,
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
    fn every_shipped_dtc_is_unique_and_its_signal_is_an_overlay_uint32() {
        let dtcs = dtcs(DTC_TSV).unwrap();
        assert!(dtcs.len() >= 6);
        let overlay = rows(OVERLAY_TSV).unwrap();
        for d in &dtcs {
            let row = overlay.iter().find(|r| r.path == d.signal).unwrap();
            assert_eq!(
                (row.kind, row.datatype),
                ("sensor", "uint32"),
                "{}",
                d.signal
            );
            let same = |o: &&DtcRow<'_>| o.code == d.code || (o.signal, o.bit) == (d.signal, d.bit);
            assert_eq!(dtcs.iter().filter(same).count(), 1, "{}", d.code);
        }
    }

    #[test]
    fn bad_dtc_rows_name_their_line() {
        let head = format!("{DTC_HEADER}\n");
        for (bad, what) in [
            ("S\t32\tabs\tf\tC0035\td\te", "bit"),
            ("S\tx\tabs\tf\tC0035\td\te", "bit"),
            ("S\t0\tabs\tf\tX0035\td\te", "letter"),
            ("S\t0\tabs\tf\tC0035\td", "columns"),
        ] {
            let e = dtcs(&format!("{head}{bad}")).unwrap_err();
            assert_eq!(e.line, 2);
            assert!(e.message.contains(what), "{e:?}");
        }
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

    #[test]
    fn the_shipped_limits_read_and_each_has_its_note() {
        let l = limits(LIMITS_TSV).unwrap();
        assert!(!l.is_empty());
        assert!(l.iter().all(|l| l.min <= l.max && !l.note.is_empty()));
    }

    #[test]
    fn bad_limits_name_their_line() {
        let text = format!("{LIMITS_HEADER}\nA\t1\t2\tok\nB\t\t2\twhy\n");
        let e = limits(&text).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("needs both min and max"), "{e:?}");
        let text = format!("{LIMITS_HEADER}\nA\t3\t2\tinverted\n");
        assert!(
            limits(&text)
                .unwrap_err()
                .message
                .contains("min 3 is above max 2")
        );
        let text = format!("{LIMITS_HEADER}\nA\t1\t2\t \n");
        assert!(limits(&text).unwrap_err().message.contains("note"));
        let text = format!("{LIMITS_HEADER}\nA\t1\tinf\tx\n");
        assert!(
            limits(&text)
                .unwrap_err()
                .message
                .contains("not a finite number")
        );
        assert_eq!(limits(HEADER).unwrap_err().line, 1);
    }
}
