//! A spilled outbox segment as it may be found on disk after a crash, a
//! full disk or bit rot: every record scanned and decoded with its marker,
//! length and checksum checked. Damage must cost records, never a panic or
//! an allocation the bytes do not justify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcu_link::spill::{Scanned, decode_record, inspect_record, scan_segment};

fuzz_target!(|data: &[u8]| {
    let _: Vec<Scanned> = scan_segment(data);
    let mut pos = 0;
    while pos < data.len() {
        let _ = inspect_record(&data[pos..]);
        match decode_record(&data[pos..]) {
            Ok((_, size)) if size > 0 => pos += size,
            _ => pos += 1,
        }
    }
});
