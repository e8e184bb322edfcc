//! The assembler on chunks out of order, repeated, inconsistent or
//! spoiling the file.

use super::*;
use serde_json::json;

pub(crate) const VIN: &str = "WTCUZ000000000001";

/// A small trace file (the header lists battery and abs).
pub(crate) fn file() -> String {
    let mut f = String::from(
        "# tcu-trace 1\n# tick_rate_hz 100\n# seed 1\n# vin WTCUZ000000000001\n\
         # plugin battery 1.0.0 reads=Sim.A writes=Vehicle.B\n\
         # plugin abs 1.2.0 reads=Sim.C writes=Vehicle.D\ntick,Sim.A\n",
    );
    for i in 0..200 {
        f.push_str(&format!("{i},QJ9Aq{i}\n"));
    }
    f
}

/// The chunk payloads of `file` in pieces of `piece` bytes, in order.
pub(crate) fn payloads(file: &str, piece: usize) -> Vec<Vec<u8>> {
    let id = sha256_hex(file.as_bytes());
    let pieces: Vec<&str> = file
        .as_bytes()
        .chunks(piece)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect();
    pieces
        .iter()
        .enumerate()
        .map(|(i, data)| {
            json!({"id": id, "rule": "abs.engaged", "trigger_tick": 1234, "trigger_t": 12.34,
                "bytes": file.len(), "chunk": i, "chunks": pieces.len(), "data": data})
            .to_string()
            .into_bytes()
        })
        .collect()
}

fn offer(a: &mut Assembler, p: &[u8], records: &mut Vec<Record>) -> Result<Offer, Refusal> {
    let c = chunk(p, VIN, 1 << 20)?;
    a.offer(&Arc::from(VIN), c, 1000, records)
}

fn edit(p: &[u8], key: &str, v: Json) -> Vec<u8> {
    let mut m: Json = serde_json::from_slice(p).unwrap();
    m[key] = v;
    m.to_string().into_bytes()
}

fn joined(records: &[Record]) -> String {
    let mut parts: Vec<(u32, &str)> = records
        .iter()
        .filter_map(|r| match r {
            Record::CaptureChunk { chunk, data, .. } => Some((*chunk, data.as_str())),
            _ => None,
        })
        .collect();
    parts.sort_by_key(|p| p.0);
    parts.into_iter().map(|p| p.1).collect()
}

#[test]
fn chunks_out_of_order_complete_the_capture_once_the_last_is_in() {
    let f = file();
    let p = payloads(&f, 700);
    assert!(p.len() >= 4);
    let (mut a, mut r) = (Assembler::default(), Vec::new());
    let order: Vec<usize> = (0..p.len()).rev().collect();
    for (n, &i) in order.iter().enumerate() {
        let want = if n + 1 == p.len() {
            Offer::Complete
        } else {
            Offer::Stored
        };
        assert_eq!(offer(&mut a, &p[i], &mut r).unwrap(), want, "chunk {i}");
    }
    assert_eq!(joined(&r), f);
    let complete: Vec<&Record> = r
        .iter()
        .filter(|r| matches!(r, Record::CaptureComplete { .. }))
        .collect();
    assert_eq!(complete.len(), 1);
    if let Record::CaptureComplete { plugins, id, .. } = complete[0] {
        assert_eq!(id, &sha256_hex(f.as_bytes()));
        assert_eq!(
            serde_json::from_str::<Json>(plugins).unwrap(),
            json!({"battery": "1.0.0", "abs": "1.2.0"})
        );
    }
    assert_eq!(a.incomplete(), 0);
}

#[test]
fn a_duplicate_chunk_is_ignored_before_and_after_the_capture_is_complete() {
    let f = file();
    let p = payloads(&f, 1000);
    let (mut a, mut r) = (Assembler::default(), Vec::new());
    assert_eq!(offer(&mut a, &p[0], &mut r).unwrap(), Offer::Stored);
    assert_eq!(offer(&mut a, &p[0], &mut r).unwrap(), Offer::Duplicate);
    assert_eq!(r.len(), 1);
    for c in &p[1..] {
        offer(&mut a, c, &mut r).unwrap();
    }
    let n = r.len();
    assert_eq!(offer(&mut a, &p[1], &mut r).unwrap(), Offer::Duplicate);
    assert_eq!(r.len(), n, "nothing more to keep");
    assert_eq!(joined(&r), f);
}

#[test]
fn a_joined_file_that_does_not_hash_to_its_id_is_refused_and_leaves_the_capture_incomplete() {
    let f = file();
    let mut p = payloads(&f, 1000);
    let last = p.len() - 1;
    let spoiled: String = {
        let m: Json = serde_json::from_slice(&p[last]).unwrap();
        let d = m["data"].as_str().unwrap();
        format!("X{}", &d[1..])
    };
    p[last] = edit(&p[last], "data", json!(spoiled));
    let (mut a, mut r) = (Assembler::default(), Vec::new());
    for c in &p[..last] {
        assert_eq!(offer(&mut a, c, &mut r).unwrap(), Offer::Stored);
    }
    let kept = r.len();
    let e = offer(&mut a, &p[last], &mut r).unwrap_err();
    assert_eq!(e.key, "id", "{e:?}");
    assert_eq!(r.len(), kept, "the spoiling chunk is not kept");
    assert!(
        !r.iter()
            .any(|r| matches!(r, Record::CaptureComplete { .. }))
    );
    assert_eq!(a.incomplete(), 1, "what came before is kept");
    // The right chunk, redelivered, still completes it.
    let good = payloads(&f, 1000);
    assert_eq!(offer(&mut a, &good[last], &mut r).unwrap(), Offer::Complete);
}

#[test]
fn chunks_or_bytes_that_differ_from_earlier_chunks_are_refused_naming_the_field() {
    let f = file();
    let p = payloads(&f, 1000);
    let (mut a, mut r) = (Assembler::default(), Vec::new());
    offer(&mut a, &p[0], &mut r).unwrap();
    let n = p.len() as u64;
    let e = offer(&mut a, &edit(&p[1], "chunks", json!(n + 1)), &mut r).unwrap_err();
    assert_eq!(e.key, "chunks", "{e:?}");
    let e = offer(&mut a, &edit(&p[1], "bytes", json!(f.len() - 1)), &mut r).unwrap_err();
    assert_eq!(e.key, "bytes", "{e:?}");
    assert_eq!(r.len(), 1, "only the first chunk was kept");
    for c in &p[1..] {
        offer(&mut a, c, &mut r).unwrap();
    }
    assert_eq!(joined(&r), f, "the refusals lost nothing");
}

#[test]
fn a_chunk_index_out_of_range_and_malformed_chunks_are_refused_naming_the_field() {
    let f = file();
    let p = payloads(&f, 1000);
    let n = p.len();
    let cases = [
        (edit(&p[0], "chunk", json!(n)), "chunk"),
        (edit(&p[0], "chunk", json!(-1)), "chunk"),
        (edit(&p[0], "chunks", json!(0)), "chunks"),
        (
            edit(&edit(&p[0], "chunks", json!(1)), "bytes", json!(40_000)),
            "chunks",
        ),
        (edit(&p[0], "id", json!("abc")), "id"),
        (edit(&p[0], "id", json!("A".repeat(64))), "id"),
        (edit(&p[0], "bytes", json!(0)), "bytes"),
        (edit(&p[0], "data", json!("")), "data"),
        (edit(&p[0], "data", json!("ü")), "data"),
        (
            edit(&p[0], "data", json!("x".repeat(MAX_CHUNK_DATA + 1))),
            "data",
        ),
        (edit(&p[0], "trigger_t", json!("soon")), "trigger_t"),
        (edit(&p[0], "rule", json!(7)), "rule"),
        (edit(&p[0], "vin", json!("WTCUZ000000000009")), "vin"),
        (b"[]".to_vec(), "payload"),
    ];
    for (payload, key) in cases {
        let e = chunk(&payload, VIN, 1 << 20).unwrap_err();
        assert_eq!(e.key, key, "{}: {e:?}", String::from_utf8_lossy(&payload));
    }
}

#[test]
fn a_piece_longer_than_the_capture_has_room_for_is_refused() {
    let f = file();
    let p = payloads(&f, 1000);
    let (mut a, mut r) = (Assembler::default(), Vec::new());
    offer(&mut a, &p[0], &mut r).unwrap();
    let long = edit(&p[1], "data", json!("y".repeat(f.len())));
    assert_eq!(offer(&mut a, &long, &mut r).unwrap_err().key, "data");
}

#[test]
fn an_incomplete_capture_keeps_its_chunks_and_never_completes() {
    let f = file();
    let p = payloads(&f, 1000);
    let (mut a, mut r) = (Assembler::default(), Vec::new());
    for c in &p[..p.len() - 1] {
        assert_eq!(offer(&mut a, c, &mut r).unwrap(), Offer::Stored);
    }
    assert_eq!(r.len(), p.len() - 1);
    assert!(
        !r.iter()
            .any(|r| matches!(r, Record::CaptureComplete { .. }))
    );
    assert_eq!(a.incomplete(), 1);
}

#[test]
fn the_header_lists_the_plugins_and_versions() {
    assert_eq!(
        header_plugins(&file()),
        [
            ("battery".to_owned(), "1.0.0".to_owned()),
            ("abs".to_owned(), "1.2.0".to_owned())
        ]
    );
    assert!(header_plugins("tick\n# plugin x 1\n").is_empty());
}

#[test]
fn a_capture_taken_up_from_its_stored_chunks_completes_with_the_rest() {
    let f = file();
    let p = payloads(&f, 700);
    let (mut a, mut r) = (Assembler::default(), Vec::new());
    for c in &p[..2] {
        offer(&mut a, c, &mut r).unwrap();
    }
    // A restart: a new assembler, given what the store kept (the last
    // piece spoiled and an index out of range are left out).
    let stored: Vec<(u32, String)> = r
        .iter()
        .filter_map(|x| match x {
            Record::CaptureChunk { chunk, data, .. } => Some((*chunk, data.clone())),
            _ => None,
        })
        .chain([(999, "x".into())])
        .collect();
    let meta = chunk(&p[0], VIN, 1 << 20).unwrap().meta;
    let mut b = Assembler::default();
    b.restore(Arc::from(VIN), meta, stored);
    assert_eq!(b.incomplete(), 1);
    let mut after = Vec::new();
    assert_eq!(offer(&mut b, &p[1], &mut after).unwrap(), Offer::Duplicate);
    for (i, c) in p.iter().enumerate().skip(2) {
        let want = if i + 1 == p.len() {
            Offer::Complete
        } else {
            Offer::Stored
        };
        assert_eq!(offer(&mut b, c, &mut after).unwrap(), want);
    }
    assert!(
        after
            .iter()
            .any(|x| matches!(x, Record::CaptureComplete { .. }))
    );
}
