//! Giving back resident memory the process touched once and no longer
//! needs: the pages of a file's read-only mappings (code and constants the
//! start-up ran through: argument and configuration parsing, a plugin's
//! loading) and the C allocator's free heap.
//!
//! A read-only private mapping of a file holds nothing of its own: once
//! its pages leave the process's page tables (`MADV_DONTNEED`), the next
//! access maps them again from the file's page cache, unchanged. A mapping
//! holding anonymous pages (relocated data, which the loader wrote and then
//! made read-only, or a breakpoint a debugger wrote) would lose them, and is
//! left alone. What is released is then only what the process does not use
//! again: on a bench TCU a few MiB of start-up code of the binary, while the
//! tick loop's code is mapped back within a tick.
//!
//! Only mappings of files named by device and inode are released, files
//! whose mappings nobody creates or removes meanwhile: the private copy of
//! a plugin just loaded, by the thread that loaded it (see
//! `plugin::library`), or the files mapped while no other thread was
//! loading a library (the executable, the system libraries it links and
//! the plugin copies loaded at start, none ever unloaded). A
//! library being loaded on another thread at that moment is neither: the
//! loader maps its segments over a reservation of the first one's
//! protection and relocates them, and a range read from `smaps` just before
//! could be relocated data by the time it is released.

use std::io;
use std::os::unix::fs::MetadataExt;

/// What one release did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Mappings released.
    pub mappings: usize,
    /// Their resident KiB before the release.
    pub kib: u64,
}

/// A mapping of `/proc/self/smaps`: its range, whether it is writable,
/// its file (device as "major:minor" hex, inode) and its resident and
/// anonymous KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    writable: bool,
    dev: (u64, u64),
    inode: u64,
    name: String,
    rss_kib: u64,
    anon_kib: u64,
}

fn kib(line: &str, key: &str) -> Option<u64> {
    line.strip_prefix(key)?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The mappings of an smaps text.
fn parse_smaps(text: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            let perms = fields.next().unwrap_or("");
            let _offset = fields.next();
            let dev = fields
                .next()
                .and_then(|d| d.split_once(':'))
                .and_then(|(a, b)| {
                    Some((
                        u64::from_str_radix(a, 16).ok()?,
                        u64::from_str_radix(b, 16).ok()?,
                    ))
                })
                .unwrap_or((0, 0));
            let inode = fields.next().and_then(|i| i.parse().ok()).unwrap_or(0);
            let name = fields.collect::<Vec<_>>().join(" ");
            out.push(Mapping {
                start,
                end,
                writable: perms.contains('w'),
                dev,
                inode,
                name,
                rss_kib: 0,
                anon_kib: 0,
            });
        } else if let Some(m) = out.last_mut() {
            if let Some(v) = kib(line, "Rss:") {
                m.rss_kib = v;
            } else if let Some(v) = kib(line, "Anonymous:") {
                m.anon_kib = v;
            }
        }
    }
    out
}

/// The (major, minor) of a device number, as Linux encodes it.
fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// A file as `smaps` names it: (major, minor) of its device, inode.
type FileId = ((u64, u64), u64);

/// The mappings of `smaps` that may be released for the files `files`:
/// read-only, with no anonymous page, and resident.
fn releasable(smaps: &str, files: &[FileId]) -> Vec<Mapping> {
    parse_smaps(smaps)
        .into_iter()
        .filter(|m| {
            files.contains(&(m.dev, m.inode)) && !m.writable && m.anon_kib == 0 && m.rss_kib > 0
        })
        .collect()
}

/// Releases the resident pages of this process's read-only mappings of the
/// file with `metadata` (device and inode) that hold no anonymous page.
pub fn release_file(metadata: &std::fs::Metadata) -> io::Result<Released> {
    release_files(&[(split_dev(metadata.dev()), metadata.ino())])
}

fn release_files(files: &[FileId]) -> io::Result<Released> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut done = Released::default();
    for m in releasable(&smaps, files) {
        // SAFETY: the range is a whole mapping of this process, private,
        // read-only and without anonymous pages: dropping its pages loses
        // nothing, the next access maps the file's page again.
        let r = unsafe {
            libc::madvise(
                m.start as *mut libc::c_void,
                m.end - m.start,
                libc::MADV_DONTNEED,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        done.mappings += 1;
        done.kib += m.rss_kib;
    }
    Ok(done)
}

/// The files mapped now (the executable, the system libraries the dynamic
/// loader mapped for it, the plugin copies loaded so far), to be noted
/// while no other thread is loading a library: every mapping of these
/// files is then complete, and stays as it is (none is ever unloaded).
#[derive(Debug, Clone, Default)]
pub struct StartupFiles(Vec<FileId>);

impl StartupFiles {
    /// The files mapped by this process now.
    pub fn now() -> Self {
        let maps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        Self(startup_files(&maps))
    }
}

fn startup_files(smaps: &str) -> Vec<FileId> {
    let mut files: Vec<FileId> = parse_smaps(smaps)
        .into_iter()
        .filter(|m| m.inode != 0 && m.name.starts_with('/'))
        .map(|m| (m.dev, m.inode))
        .collect();
    files.sort_unstable();
    files.dedup();
    files
}

/// Releases what the start-up of the process left resident and unused: the
/// read-only pages of `files` (see [`release_file`]) and the C allocator's
/// free heap pages. Call it once the process has settled (the tick loop
/// runs).
pub fn release_after_start(files: &StartupFiles) -> io::Result<Released> {
    let released = release_files(&files.0)?;
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions; it only returns free memory.
    unsafe {
        libc::malloc_trim(0);
    }
    Ok(released)
}

/// Keeps the C allocator from pooling large buffers. glibc serves a
/// request above its mmap threshold (128 KiB) with a mapping of its own,
/// unmapped when freed, but raises the threshold to the size of each such
/// buffer freed; buffers of that size then come from the heap, which grows
/// by them and keeps the space until trimmed. A plugin's bytes (about
/// 600 KB, read to be checked and copied) are such buffers: loading six
/// grew the heap by 1.1 MB at the moment of the start-up's peak. Setting
/// the threshold fixes it. Call it before the plugins are loaded.
pub fn unpool_large_buffers() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 fd:01 1234                       /usr/bin/tcu
Rss:                 800 kB
Anonymous:             0 kB
55d0a0100000-55d0a0400000 r-xp 00100000 fd:01 1234                       /usr/bin/tcu
Rss:                2000 kB
Anonymous:             0 kB
55d0a0400000-55d0a0450000 r--p 00400000 fd:01 1234                       /usr/bin/tcu
Rss:                 320 kB
Anonymous:           320 kB
55d0a0450000-55d0a0454000 rw-p 00450000 fd:01 1234                       /usr/bin/tcu
Rss:                  16 kB
Anonymous:            16 kB
7f0000000000-7f0000010000 r-xp 00000000 fd:01 99                         /usr/lib/libc.so.6
Rss:                  64 kB
Anonymous:             0 kB
7f0000020000-7f0000030000 r-xp 00000000 00:01 1234                       /memfd:x (deleted)
Rss:                  64 kB
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  72 kB
Anonymous:            72 kB
";

    #[test]
    fn only_the_files_read_only_mappings_without_anonymous_pages_are_releasable() {
        let got: Vec<(usize, u64)> = releasable(SMAPS, &[((0xfd, 0x01), 1234)])
            .iter()
            .map(|m| (m.start, m.rss_kib))
            .collect();
        // Not the relocated constants (anonymous pages), not the data, not
        // libc, not another device's file with the same inode number.
        assert_eq!(got, vec![(0x55d0a0000000, 800), (0x55d0a0100000, 2000)]);
    }

    #[test]
    fn the_startup_files_are_every_mapped_file() {
        assert_eq!(
            startup_files(SMAPS),
            vec![((0, 1), 1234), ((0xfd, 0x01), 99), ((0xfd, 0x01), 1234)]
        );
    }

    #[test]
    fn device_numbers_split_as_linux_encodes_them() {
        assert_eq!(split_dev((0xfd << 8) | 0x01), (0xfd, 0x01));
        // makedev(0x103, 0x205): the high bits of the minor above bit 20.
        assert_eq!(split_dev(0x0021_0305), (0x103, 0x205));
    }

    #[cfg(target_env = "gnu")]
    #[test]
    fn unpooled_large_buffers_stay_mappings_of_their_own_after_one_is_freed() {
        // 8 MB: below glibc's highest dynamic threshold (32 MB), so without
        // the fixed threshold the second buffer would come from the heap;
        // and more than other tests of this binary allocate at once.
        const SIZE: usize = 8 << 20;
        unpool_large_buffers();
        for round in 0..3 {
            // SAFETY: mallinfo2 only reads the allocator's counters.
            let before = unsafe { libc::mallinfo2() }.hblkhd;
            let buffer = std::hint::black_box(vec![1u8; SIZE]);
            // SAFETY: as above.
            let during = unsafe { libc::mallinfo2() }.hblkhd;
            assert!(
                during >= before + SIZE,
                "round {round}: an {SIZE}-byte buffer came from the heap (mmapped {before} -> {during} bytes)"
            );
            drop(buffer);
        }
    }

    #[test]
    fn releasing_a_mapped_files_pages_keeps_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let content: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a fresh read-only private mapping of a file of that size.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                content.len(),
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED);
        // SAFETY: the mapping is live and `content.len()` bytes long.
        let mapped = || unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), content.len()) };
        assert_eq!(mapped(), &content[..]);
        let released = release_file(&file.metadata().unwrap()).unwrap();
        assert_eq!(released.mappings, 1);
        assert!(released.kib > 0);
        assert_eq!(mapped(), &content[..], "content changed by the release");
        // SAFETY: unmapping the mapping made above.
        unsafe { libc::munmap(addr, content.len()) };
    }
}
