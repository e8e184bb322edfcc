//! Which bytes of a shared library the dynamic loader maps: the file
//! ranges of its `PT_LOAD` segments (plus the ELF and program headers),
//! read from the ELF program header table. The rest of the file (symbol
//! and string tables, debug sections, the section header table) is never
//! mapped, so a private copy of the library need not keep it once the
//! library is loaded (see `library::release_unmapped`).
//!
//! Only 64-bit ELF is read (the targets the TCU is built for), in either
//! byte order; anything else yields no ranges, and the caller keeps the
//! whole copy.

use std::ops::Range;

const PT_LOAD: u32 = 1;
const ELFCLASS64: u8 = 2;
const PHDR_SIZE: usize = 56;

fn field(bytes: &[u8], at: usize, len: usize, big_endian: bool) -> Option<u64> {
    let raw = bytes.get(at..at.checked_add(len)?)?;
    let mut v = 0u64;
    for i in 0..len {
        let b = if big_endian { raw[i] } else { raw[len - 1 - i] };
        v = (v << 8) | u64::from(b);
    }
    Some(v)
}

/// The file ranges the loader maps from `bytes`, each widened to whole
/// pages of `page` bytes and clipped to the file, sorted and merged; `None`
/// when `bytes` is not a 64-bit ELF file with a readable program header
/// table.
pub(super) fn mapped_ranges(bytes: &[u8], page: u64) -> Option<Vec<Range<u64>>> {
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != ELFCLASS64 || page == 0 {
        return None;
    }
    let big_endian = match *bytes.get(5)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let f = |at: usize, len: usize| field(bytes, at, len, big_endian);
    let phoff = usize::try_from(f(0x20, 8)?).ok()?;
    let phentsize = usize::try_from(f(0x36, 2)?).ok()?;
    let phnum = usize::try_from(f(0x38, 2)?).ok()?;
    if phentsize < PHDR_SIZE {
        return None;
    }
    let len = bytes.len() as u64;
    let table_end = phoff.checked_add(phentsize.checked_mul(phnum)?)?;
    if table_end > bytes.len() {
        return None;
    }
    // The headers themselves: the loader reads them, and `dl_iterate_phdr`
    // users find them through the first segment.
    let mut ranges: Vec<Range<u64>> = Vec::with_capacity(phnum + 1);
    ranges.push(0..table_end as u64);
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        if f(at, 4)? != u64::from(PT_LOAD) {
            continue;
        }
        let offset = f(at + 8, 8)?;
        let filesz = f(at + 0x20, 8)?;
        ranges.push(offset..offset.checked_add(filesz)?);
    }
    let mut pages: Vec<Range<u64>> = ranges
        .into_iter()
        .map(|r| (r.start / page * page)..r.end.div_ceil(page).saturating_mul(page).min(len))
        .filter(|r| r.start < r.end)
        .collect();
    pages.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(pages.len());
    for r in pages {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    Some(merged)
}

/// The ranges of a file of `len` bytes outside `kept` (sorted, merged).
pub(super) fn gaps(kept: &[Range<u64>], len: u64) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    let mut at = 0;
    for r in kept {
        if r.start > at {
            out.push(at..r.start);
        }
        at = at.max(r.end);
    }
    if at < len {
        out.push(at..len);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian ELF64 image of `len` bytes whose program header
    /// table (at 64) holds `segments` as (type, offset, filesz).
    fn image(len: usize, segments: &[(u32, u64, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = ELFCLASS64;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (i, (kind, offset, filesz)) in segments.iter().enumerate() {
            let at = 64 + i * PHDR_SIZE;
            b[at..at + 4].copy_from_slice(&kind.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
            b[at + 0x20..at + 0x28].copy_from_slice(&filesz.to_le_bytes());
        }
        b
    }

    #[test]
    fn loadable_segments_are_kept_in_whole_pages_and_the_tail_is_a_gap() {
        // Two segments with a page-aligned hole between them, a note (not
        // loaded) and 3 pages of tail (symbols, section headers).
        let b = image(
            10 * 4096,
            &[
                (PT_LOAD, 0, 5000),
                (4, 6000, 100),
                (PT_LOAD, 3 * 4096 + 10, 3 * 4096),
            ],
        );
        let kept = mapped_ranges(&b, 4096).unwrap();
        assert_eq!(kept, vec![0..2 * 4096, 3 * 4096..7 * 4096]);
        assert_eq!(
            gaps(&kept, b.len() as u64),
            vec![2 * 4096..3 * 4096, 7 * 4096..10 * 4096]
        );
    }

    #[test]
    fn a_segment_reaching_past_the_end_of_the_file_is_clipped() {
        let b = image(4096 + 100, &[(PT_LOAD, 0, 9000)]);
        let kept = mapped_ranges(&b, 4096).unwrap();
        assert_eq!(kept, vec![0..4096 + 100]);
        assert!(gaps(&kept, b.len() as u64).is_empty());
    }

    #[test]
    fn what_is_not_a_readable_elf64_file_gives_no_ranges() {
        assert_eq!(mapped_ranges(b"#!/bin/sh\n", 4096), None);
        let mut b = image(4096, &[(PT_LOAD, 0, 100)]);
        b[4] = 1; // ELFCLASS32
        assert_eq!(mapped_ranges(&b, 4096), None);
        let mut b = image(4096, &[(PT_LOAD, 0, 100)]);
        b[0x38..0x3a].copy_from_slice(&1000u16.to_le_bytes()); // table past the end
        assert_eq!(mapped_ranges(&b, 4096), None);
    }
}
