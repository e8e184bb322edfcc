use super::*;
use std::path::Path;

fn msg(seq: u64, size: usize) -> Msg {
    Msg {
        topic: "v/telemetry".into(),
        payload: vec![b'x'; size],
        qos: 1,
        seq: Some(seq),
    }
}

fn drain(o: &mut Outbox) -> Vec<u64> {
    std::iter::from_fn(|| o.pop())
        .filter_map(|m| m.seq)
        .collect()
}

#[test]
fn order_is_kept_across_memory_disk_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::new(Some(dir.path()), 1 << 30, 4);
    o.set_online(true);
    for i in 0..3 {
        o.push(msg(i, 10));
    }
    o.set_online(false);
    for i in 3..10 {
        o.push(msg(i, 10));
    }
    assert!(o.mem.is_empty(), "offline messages go to disk");
    o.set_online(true);
    let first = o.pop().unwrap();
    let second = o.pop().unwrap();
    o.requeue([first, second]);
    for i in 10..20 {
        o.push(msg(i, 10));
    }
    assert_eq!(drain(&mut o), (0..20).collect::<Vec<_>>());
    assert!(o.is_empty());
}

#[test]
fn when_full_the_oldest_are_dropped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::new(Some(dir.path()), 10 * 1000, 4);
    for i in 0..30 {
        o.push(msg(i, 1000 - 36 - 11));
    }
    let d = o.take_dropped().unwrap();
    assert_eq!(d.count, 20);
    assert_eq!(d.seqs, vec![(0, 19)]);
    assert_eq!(o.take_dropped(), None);
    assert_eq!(drain(&mut o), (20..30).collect::<Vec<_>>());
    assert_eq!(o.dropped_total(), 20);
}

#[test]
fn memory_only_outbox_works_without_a_directory() {
    let mut o = Outbox::new(None, 1 << 20, 2);
    for i in 0..5 {
        o.push(msg(i, 1));
    }
    assert_eq!(o.len(), 5);
    assert_eq!(drain(&mut o), vec![0, 1, 2, 3, 4]);
}

#[test]
fn a_restart_replays_what_was_spilled() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = Outbox::new(Some(dir.path()), 1 << 20, 2);
        for i in 0..5 {
            o.push(msg(i, 3));
        }
    }
    let mut o = Outbox::new(Some(dir.path()), 1 << 20, 2);
    assert_eq!(drain(&mut o), vec![0, 1, 2, 3, 4]);
}

/// The segment files of an outbox directory, oldest first.
fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// An offline outbox whose second segment file is `/dev/full` (every write
/// fails with "no space left"), after 300 pushes of 4 KiB: the first
/// segment fills up, then spilling fails.
/// Held by every test that makes the disk fail. tracing caches whether a log
/// call site is wanted when the site is first hit; a test thread hitting the
/// outbox's write-error site while another thread is creating its capturing
/// subscriber can cache "never", and the capture then sees nothing.
static DISK_FAULT_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn disk_fault_lock() -> std::sync::MutexGuard<'static, ()> {
    DISK_FAULT_TESTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn outbox_whose_disk_fails(dir: &Path) -> Outbox {
    let mut o = Outbox::new(Some(dir), 1 << 30, 4);
    std::os::unix::fs::symlink("/dev/full", dir.join("seg-0000000001.log")).unwrap();
    for i in 0..300 {
        o.push(msg(i, 4000));
    }
    o
}

#[test]
fn a_disk_error_while_spilling_loses_nothing_silently() {
    let _serial = disk_fault_lock();
    let dir = tempfile::tempdir().unwrap();
    let mut o = outbox_whose_disk_fails(dir.path());
    assert!(o.disk_error().is_some());
    // Later messages stay in memory, behind the older ones on disk.
    o.push(msg(300, 4000));
    let got = drain(&mut o);
    let dropped = o.take_dropped();
    let mut reported: Vec<u64> = Vec::new();
    for (lo, hi) in dropped.iter().flat_map(|d| d.seqs.clone()) {
        reported.extend(lo..=hi);
    }
    for seq in 0..=300 {
        assert!(
            got.contains(&seq) || reported.contains(&seq),
            "seq {seq} neither delivered nor reported dropped (got {} messages, dropped {dropped:?})",
            got.len()
        );
    }
    assert_eq!(got, (0..=300).collect::<Vec<_>>(), "nothing had to be lost");
}

/// Log lines written while `f` runs.
fn logs_of(f: impl FnOnce()) -> String {
    use std::sync::{Arc, Mutex};
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(buf.clone());
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

#[test]
fn a_disk_error_while_spilling_is_logged_when_it_happens() {
    let _serial = disk_fault_lock();
    let dir = tempfile::tempdir().unwrap();
    let logs = logs_of(|| {
        let _o = outbox_whose_disk_fails(dir.path());
    });
    let line = logs
        .lines()
        .find(|l| l.contains("No space left"))
        .unwrap_or_else(|| panic!("the write error was not logged: {logs:?}"));
    assert!(line.contains("ERROR") && line.contains("outbox"), "{line}");
}

#[test]
fn a_corrupt_record_on_disk_costs_only_itself_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = Outbox::new(Some(dir.path()), 1 << 20, 2);
        for i in 0..10 {
            o.push(Msg {
                payload: format!("payload {i}").into_bytes(),
                ..msg(i, 0)
            });
        }
    }
    let seg = &segments(dir.path())[0];
    let mut bytes = std::fs::read(seg).unwrap();
    let at = bytes
        .windows(9)
        .position(|w| w == b"payload 3")
        .expect("record 3 is on disk");
    // Damage the 8 bytes in front of record 3's payload: part of its
    // header in any layout that puts the header first.
    bytes[at - 8..at].fill(0xFF);
    std::fs::write(seg, &bytes).unwrap();
    let mut o = Outbox::new(Some(dir.path()), 1 << 20, 2);
    let d = o.take_dropped().expect("the damaged record is reported");
    assert_eq!((d.count, d.seqs.clone()), (1, vec![(3, 3)]), "{d:?}");
    assert_eq!(d.reasons[&DropReason::CorruptRecord], 1);
    assert_eq!(drain(&mut o), vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn an_unreadable_spilled_segment_is_reported_as_dropped_with_its_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::new(Some(dir.path()), 1 << 20, 2);
    for i in 0..10 {
        o.push(msg(i, 10));
    }
    let seg = &segments(dir.path())[0];
    std::fs::remove_file(seg).unwrap();
    std::fs::create_dir(seg).unwrap();
    assert_eq!(drain(&mut o), Vec::<u64>::new());
    let d = o.take_dropped().expect("the lost records are reported");
    assert_eq!((d.count, d.seqs.clone()), (10, vec![(0, 9)]), "{d:?}");
    assert_eq!(d.reasons[&DropReason::DiskRead], 10);
    assert_eq!(o.dropped_total(), 10);
    // The outbox goes on spilling to a fresh segment.
    o.push(msg(10, 10));
    assert_eq!(drain(&mut o), vec![10]);
}
