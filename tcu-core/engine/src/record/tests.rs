use super::*;

fn header() -> Header {
    Header {
        tick_rate_hz: 100.0,
        seed: 7,
        vin: "WTCUZ000000000001".into(),
        plugins: vec![PluginEntry {
            name: "battery".into(),
            version: "1.2.0".into(),
            reads: vec!["A.In".into()],
            writes: vec!["B.Out".into(), "C.Out".into()],
        }],
        columns: vec!["A.In".into(), "B.Out".into(), "C.Out".into()],
    }
}

fn write(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("t.trace");
    std::fs::write(&path, format!("{}{body}", header().render())).expect("write");
    path
}

#[test]
fn values_read_back_bit_for_bit() {
    for v in [
        0.0,
        -0.0,
        1.0,
        -3.0,
        0.1,
        1e-300,
        6.02e23,
        1e15,
        -2.5e-7,
        f64::MAX,
    ] {
        let mut s = String::new();
        write_value(&mut s, v);
        let back: f64 = s.parse().expect("parses");
        assert_eq!(back.to_bits(), v.to_bits(), "{v} written as {s}");
    }
}

#[test]
fn a_header_reads_back_as_written_and_empty_cells_repeat_the_row_above() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = write(dir.path(), "1,0.5,2,3\n2,,,4\n");
    let mut r = TraceReader::open(&path).expect("opens");
    assert_eq!(r.header(), &header());
    assert_eq!(r.next_row().expect("row"), Some(1));
    assert_eq!(r.values(), &[0.5, 2.0, 3.0]);
    assert_eq!(r.next_row().expect("row"), Some(2));
    assert_eq!(r.values(), &[0.5, 2.0, 4.0]);
    assert_eq!(r.next_row().expect("end"), None);
}

#[test]
fn a_bad_value_is_reported_with_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = write(dir.path(), "1,0.5,2,3\n2,x,,4\n");
    let mut r = TraceReader::open(&path).expect("opens");
    r.next_row().expect("first row");
    let e = r.next_row().expect_err("bad cell").to_string();
    assert_eq!(
        e,
        format!("{}:8: `A.In`: `x` is not a number", path.display())
    );
}

#[test]
fn a_short_row_and_an_incomplete_first_row_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = write(dir.path(), "1,0.5,2\n");
    let e = TraceReader::open(&path)
        .expect("opens")
        .next_row()
        .expect_err("short");
    assert!(
        e.to_string()
            .ends_with(":7: the row has 2 values, the column line names 3"),
        "{e}"
    );
    let path = write(dir.path(), "1,,2,3\n");
    let e = TraceReader::open(&path)
        .expect("opens")
        .next_row()
        .expect_err("empty");
    assert!(
        e.to_string()
            .contains(":7: `A.In` is empty on the first row"),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_a_trace_is_refused_at_line_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("x.csv");
    std::fs::write(&path, "time,signal,value\n").expect("write");
    let e = TraceReader::open(&path).expect_err("not a trace");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:1: not a tcu trace", path.display())),
        "{e}"
    );
}

#[test]
fn unselected_columns_are_not_parsed() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = write(dir.path(), "1,0.5,oops,3\n");
    let mut r = TraceReader::open(&path).expect("opens");
    r.select(|c| c != "B.Out");
    assert_eq!(r.next_row().expect("row"), Some(1));
    assert!(r.values()[1].is_nan());
}
