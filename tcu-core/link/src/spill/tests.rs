use super::*;

fn msg(i: u64) -> Msg {
    Msg {
        topic: "t/x".into(),
        payload: format!("payload {i}").into_bytes(),
        qos: 1,
        seq: Some(i),
    }
}

fn drain(s: &mut Spill) -> Vec<Option<u64>> {
    std::iter::from_fn(|| s.pop()).map(|m| m.seq).collect()
}

#[test]
fn records_come_back_in_order_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<Msg> = (0..3000)
        .map(|i| Msg {
            payload: vec![b'x'; 1000],
            ..msg(i)
        })
        .collect();
    {
        let mut s = Spill::open(dir.path()).unwrap().unwrap();
        s.append(&big[..10]).unwrap();
        assert_eq!(s.pop().unwrap().seq, Some(0));
        s.append(&big[10..]).unwrap();
        assert!(s.segments.len() >= 3, "{}", s.segments.len());
        assert_eq!(s.len(), 2999);
        for i in 1..100 {
            assert_eq!(s.pop().unwrap().seq, Some(i));
        }
    }
    let mut s = Spill::open(dir.path()).unwrap().unwrap();
    assert_eq!(s.take_lost(), None);
    // The first segment was reopened from its start: records already
    // taken before the restart come again (at least once, never lost).
    let first = s.pop().unwrap().seq.unwrap();
    assert!(first <= 100, "{first}");
    let mut last = first;
    while let Some(m) = s.pop() {
        assert_eq!(m.seq, Some(last + 1));
        last += 1;
    }
    assert_eq!(last, 2999);
    assert!(s.is_empty());
}

#[test]
fn a_torn_record_at_the_end_is_cut_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spill::open(dir.path()).unwrap().unwrap();
        s.append(&[msg(1), msg(2)]).unwrap();
    }
    let seg = seg_path(dir.path(), 0);
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&MARKER).unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
    drop(f);
    let mut s = Spill::open(dir.path()).unwrap().unwrap();
    assert_eq!(s.len(), 2);
    let lost = s.take_lost().expect("the torn record is counted");
    assert_eq!(lost.count, 1);
    assert_eq!(lost.reasons[&DropReason::CorruptRecord], 1);
    s.append(&[msg(3)]).unwrap();
    assert_eq!(drain(&mut s), vec![Some(1), Some(2), Some(3)]);
}

#[test]
fn a_damaged_record_costs_only_itself_and_its_seq_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spill::open(dir.path()).unwrap().unwrap();
        let msgs: Vec<Msg> = (1..=6).map(msg).collect();
        s.append(&msgs).unwrap();
    }
    let seg = seg_path(dir.path(), 0);
    let mut bytes = fs::read(&seg).unwrap();
    let third = bytes
        .windows(9)
        .position(|w| w == b"payload 3")
        .expect("record 3 is in the file");
    bytes[third] ^= 0x01;
    fs::write(&seg, &bytes).unwrap();
    let mut s = Spill::open(dir.path()).unwrap().unwrap();
    let lost = s.take_lost().expect("the damaged record is counted");
    assert_eq!(
        (lost.count, lost.seqs.clone()),
        (1, vec![(3, 3)]),
        "{lost:?}"
    );
    assert_eq!(lost.reasons[&DropReason::CorruptRecord], 1);
    assert_eq!(
        drain(&mut s),
        vec![Some(1), Some(2), Some(4), Some(5), Some(6)]
    );
    // The segment was rewritten clean: a second open finds no damage.
    drop(s);
    let s = Spill::open(dir.path()).unwrap().unwrap();
    assert!(s.is_empty());
}

#[test]
fn a_missing_segment_is_counted_from_the_gap_in_the_serials() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Spill::open(dir.path()).unwrap().unwrap();
        // 600 records of ~4 KiB: three segments.
        let msgs: Vec<Msg> = (1..=600)
            .map(|i| Msg {
                payload: vec![b'x'; 4000],
                ..msg(i)
            })
            .collect();
        s.append(&msgs).unwrap();
        assert!(s.segments.len() >= 3, "{}", s.segments.len());
    }
    let middle: Vec<u64> = {
        let s = Spill::open(dir.path()).unwrap().unwrap();
        let seg = &s.segments[1];
        let lo = seg.seqs.front().unwrap().0;
        let hi = seg.seqs.back().unwrap().1;
        fs::remove_file(&seg.path).unwrap();
        (lo..=hi).collect()
    };
    let mut s = Spill::open(dir.path()).unwrap().unwrap();
    let lost = s.take_lost().expect("the missing records are counted");
    assert_eq!(lost.count, middle.len() as u64);
    assert_eq!(
        lost.seqs,
        vec![(middle[0], middle[middle.len() - 1])],
        "{lost:?}"
    );
    assert_eq!(s.len(), 600 - middle.len() as u64);
    let got = drain(&mut s);
    assert!(got.iter().all(|q| !middle.contains(&q.unwrap())));
}

#[test]
fn a_lock_file_left_by_a_reused_pid_does_not_hold_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    // What a crashed TCU leaves behind, naming a pid that is alive now
    // (pid 1 always is): only a held lock counts, not what the file says.
    fs::write(dir.path().join("lock"), "1").unwrap();
    assert!(Spill::open(dir.path()).unwrap().is_some());
}

#[test]
fn a_directory_held_by_another_open_queue_is_refused_until_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = Spill::open(dir.path()).unwrap().unwrap();
    assert!(Spill::open(dir.path()).unwrap().is_none());
    drop(first);
    assert!(Spill::open(dir.path()).unwrap().is_some());
}

#[test]
fn an_unreadable_head_segment_costs_its_records_and_the_next_one_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spill::open(dir.path()).unwrap().unwrap();
    let msgs: Vec<Msg> = (1..=300)
        .map(|i| Msg {
            payload: vec![b'x'; 4000],
            ..msg(i)
        })
        .collect();
    s.append(&msgs).unwrap();
    let head = s.segments[0].clone();
    let head_seqs = (head.seqs[0].0, head.seqs[0].1);
    fs::remove_file(&head.path).unwrap();
    fs::create_dir(&head.path).unwrap();
    let first = s.pop().expect("the next segment is read").seq.unwrap();
    assert_eq!(first, head_seqs.1 + 1);
    let lost = s.take_lost().expect("counted");
    assert_eq!(lost.count, head.records);
    assert_eq!(lost.seqs, vec![head_seqs]);
    assert_eq!(lost.reasons[&DropReason::DiskRead], head.records);
    assert_eq!(s.len(), 300 - head.records - 1);
}

#[test]
fn a_failed_append_leaves_the_queue_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spill::open(dir.path()).unwrap().unwrap();
    s.append(&[msg(1), msg(2)]).unwrap();
    // The segment after the current one is a device whose every write
    // fails with "no space left".
    s.writer = None;
    std::os::unix::fs::symlink("/dev/full", seg_path(dir.path(), 1)).unwrap();
    let more: Vec<Msg> = (3..=5).map(msg).collect();
    assert!(s.append(&more).is_err());
    assert_eq!(s.len(), 2);
    assert_eq!(s.segments.len(), 1);
    assert!(!seg_path(dir.path(), 1).exists());
    s.append(&[msg(3)]).unwrap();
    assert_eq!(drain(&mut s), vec![Some(1), Some(2), Some(3)]);
}
