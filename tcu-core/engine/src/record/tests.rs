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

/// A data row of `tick` and `values`, each XORed against `prev` (updated).
fn row(tick: u64, values: &[f64], prev: &mut [u64]) -> String {
    let mut out = tick.to_string().into_bytes();
    for (v, p) in values.iter().zip(prev.iter_mut()) {
        out.push(b',');
        encode_xor(&mut out, v.to_bits() ^ *p);
        *p = v.to_bits();
    }
    out.push(b'\n');
    String::from_utf8(out).expect("ASCII")
}

fn write(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("t.trace");
    std::fs::write(&path, format!("{}{body}", header().render())).expect("write");
    path
}

#[test]
fn cells_of_every_length_append_only_their_digits_after_what_was_there() {
    for digits in 1..=11usize {
        // The largest value with that many digits, and the smallest.
        let high = if digits == 11 {
            u64::MAX
        } else {
            (1u64 << (6 * digits)) - 1
        };
        let low = 1u64 << (6 * (digits - 1));
        for x in [high, low] {
            let mut s = b"tick,".to_vec();
            encode_xor(&mut s, x);
            assert_eq!(
                &s[..5],
                b"tick,",
                "{x:#x}: the text before the cell changed"
            );
            assert_eq!(s.len(), 5 + digits, "{x:#x} as {s:?}");
            assert_eq!(decode_xor(&s[5..]), Some(x), "{x:#x} as {s:?}");
        }
    }
}

#[test]
fn cells_read_back_bit_for_bit() {
    for x in [1u64, 63, 64, u64::MAX, 0x3ff0_0000_0000_0000, 1 << 63] {
        let mut s = Vec::new();
        encode_xor(&mut s, x);
        assert_eq!(decode_xor(&s), Some(x), "{x:#x} as {s:?}");
    }
    let mut s = Vec::new();
    encode_xor(&mut s, 0);
    assert!(s.is_empty(), "an unchanged value is an empty cell");
    assert_eq!(decode_xor(b"P/AA"), None);
    assert_eq!(decode_xor(b"__________________"), None);
}

#[test]
fn a_header_reads_back_as_written_and_empty_cells_repeat_the_row_above() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut prev = [0; 3];
    let body = row(1, &[0.5, 2.0, 3.0], &mut prev) + &row(2, &[0.5, 2.0, -4.25e-300], &mut prev);
    assert!(
        body.lines().nth(1).expect("second row").starts_with("2,,,"),
        "{body}"
    );
    let path = write(dir.path(), &body);
    let mut r = TraceReader::open(&path).expect("opens");
    assert_eq!(r.header(), &header());
    assert_eq!(r.next_row().expect("row"), Some(1));
    assert_eq!(r.values(), &[0.5, 2.0, 3.0]);
    assert_eq!(r.next_row().expect("row"), Some(2));
    assert_eq!(r.values(), &[0.5, 2.0, -4.25e-300]);
    assert_eq!(r.next_row().expect("end"), None);
}

#[test]
fn a_bad_value_is_reported_with_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut prev = [0; 3];
    let path = write(
        dir.path(),
        &(row(1, &[0.5, 2.0, 3.0], &mut prev) + "2,x!,,\n"),
    );
    let mut r = TraceReader::open(&path).expect("opens");
    r.next_row().expect("first row");
    let e = r.next_row().expect_err("bad cell").to_string();
    assert_eq!(
        e,
        format!("{}:8: `A.In`: `x!` is not a value cell", path.display())
    );
}

#[test]
fn a_short_row_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = write(dir.path(), "1,A,B\n");
    let e = TraceReader::open(&path)
        .expect("opens")
        .next_row()
        .expect_err("short");
    assert!(
        e.to_string()
            .ends_with(":7: the row has 2 values, the column line names 3"),
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
fn unselected_columns_are_not_decoded() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = write(dir.path(), "1,A,oops!,B\n");
    let mut r = TraceReader::open(&path).expect("opens");
    r.select(|c| c != "B.Out");
    assert_eq!(r.next_row().expect("row"), Some(1));
    assert_eq!(r.values()[1], 0.0);
}

#[test]
fn a_device_is_refused_before_any_line_is_read() {
    let e = TraceReader::open(std::path::Path::new("/dev/zero")).expect_err("not a file");
    assert_eq!(e.to_string(), "/dev/zero:1: not a regular file");
}
