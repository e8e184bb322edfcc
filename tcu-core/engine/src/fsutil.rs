//! File helpers every part that keeps state on disk uses, so that they all
//! have the same durability and the same idea of a safe name: the plugin
//! store's manifest and libraries, the OTA client's action state, its
//! downloads and SWU bundles.

use std::io::Write;
use std::path::Path;

fn named(path: &Path, what: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Writes `bytes` to `dest` atomically: a temporary file in the same
/// directory, fsync, rename over `dest`, fsync of the directory (so the
/// rename itself survives a power cut). A reader sees the old content or
/// the new, never part of either. Errors name the file.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = dest
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| named(&tmp, "creating", e))?;
    f.write_all(bytes).map_err(|e| named(&tmp, "writing", e))?;
    f.sync_all().map_err(|e| named(&tmp, "syncing", e))?;
    drop(f);
    rename_durable(&tmp, dest).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Renames `from` over `to` and fsyncs the directory of `to`; for a file
/// that was written and synced in place (a finished download).
pub fn rename_durable(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| named(to, &format!("renaming {} to", from.display()), e))?;
    let dir = match to.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        // Not every filesystem can sync a directory; the data is synced.
        let _ = d.sync_all();
    }
    Ok(())
}

/// A name from outside (a server's artifact name, a version string) made
/// safe as one file-name component: its last path component only, every
/// character but ASCII letters, digits and `.-_+` replaced by `_`, no
/// leading dots (no `..`, nothing hidden), not empty, at most 200 bytes.
pub fn sanitize_file_name(name: &str) -> Result<String, String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    if trimmed.is_empty() || cleaned.len() > 200 {
        return Err(format!("unusable file name `{name}`"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("manifest.json");
        write_atomic(&f, b"one").unwrap();
        write_atomic(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["manifest.json"]);
    }

    #[test]
    fn atomic_write_into_a_missing_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("nope").join("state.json");
        let e = write_atomic(&f, b"x").unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
    }

    #[test]
    fn sanitised_names_cannot_leave_their_directory() {
        assert_eq!(sanitize_file_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(sanitize_file_name("a b/..c").unwrap(), "c");
        assert_eq!(
            sanitize_file_name("lib battery.so").unwrap(),
            "lib_battery.so"
        );
        assert!(sanitize_file_name("..").is_err());
        assert!(sanitize_file_name("").is_err());
        assert!(sanitize_file_name(&"x".repeat(201)).is_err());
    }
}
