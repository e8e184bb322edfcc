//! SWU bundles: a `newc` cpio archive whose first member is `sw-description`
//! (libconfig syntax), the upload format goosebit (and SWUpdate) accept.
//!
//! The bundles written here carry TCU plugin libraries:
//!
//! ```text
//! software = {
//!     version = "2.0.0";
//!     description = "TCU subsystem libraries";
//!     hardware-compatibility: [ "sim-1" ];
//!     images: (
//!         { filename = "libbattery.so"; name = "battery"; version = "2.0.0";
//!           type = "tcu-plugin"; sha256 = "..."; }
//!     );
//! };
//! ```
//!
//! Each image's `name` is the subsystem it replaces; its signature travels
//! as the member `<filename>.sig`. goosebit reads `software.version` (a
//! semantic version) and `hardware-compatibility`: the hardware revisions
//! the bundle fits (goosebit refuses to assign a bundle to a device whose
//! configData `hw_revision` is not among them; without the list it takes
//! the bundle as fit only for revision `default`).
//!
//! Names inside a bundle come from whoever built it: a member, an image's
//! `filename` or `name` that is empty or holds `/`, `\`, `..` or NUL
//! refuses the whole bundle, and two images that would land in one file
//! too. [`parse_members`] reads the members from bytes and never panics,
//! whatever the bytes (fuzz targets call it); [`cpio`] writes them.

use crate::download::{check_plain_name, sanitize_file_name};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// One library to bundle.
#[derive(Debug, Clone)]
pub struct Image {
    /// Subsystem.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The library file.
    pub file: PathBuf,
    /// Its signature file, if any.
    pub sig: Option<PathBuf>,
}

/// One library unpacked from a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// Subsystem.
    pub name: String,
    /// Version from the sw-description.
    pub version: Option<String>,
    /// Where it was written (its `.sig`, if any, beside it).
    pub path: PathBuf,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn write_member(out: &mut impl Write, ino: u32, name: &str, data: &[u8]) -> std::io::Result<()> {
    let namesize = name.len() + 1;
    let mode = if name == "TRAILER!!!" { 0 } else { 0o100644 };
    let nlink = u32::from(name != "TRAILER!!!");
    let header = format!(
        "070701{ino:08X}{mode:08X}{:08X}{:08X}{nlink:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{namesize:08X}{:08X}",
        0,
        0,
        0,
        data.len(),
        0,
        0,
        0,
        0,
        0
    );
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    out.write_all(&[0u8; 3][..pad4(110 + namesize)])?;
    out.write_all(data)?;
    out.write_all(&[0u8; 3][..pad4(data.len())])
}

/// A `newc` cpio archive of `members` (name, bytes), in order, with its
/// trailer.
pub fn cpio(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = Vec::new();
    for (ino, (name, data)) in (1u32..).zip(members) {
        // Writing into a Vec cannot fail.
        let _ = write_member(&mut buf, ino, name, data);
    }
    let _ = write_member(&mut buf, 0, "TRAILER!!!", &[]);
    buf
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The sw-description of `images` (with the bytes of each library), fit
/// for the hardware revisions `hw_revisions` (none: no list).
pub fn sw_description(
    version: &str,
    hw_revisions: &[String],
    images: &[(Image, String, Vec<u8>)],
) -> String {
    let mut s = format!(
        "software =\n{{\n\tversion = \"{}\";\n\tdescription = \"TCU subsystem libraries\";\n",
        quote(version)
    );
    if !hw_revisions.is_empty() {
        let list: Vec<String> = hw_revisions
            .iter()
            .map(|r| format!("\"{}\"", quote(r)))
            .collect();
        s.push_str(&format!(
            "\thardware-compatibility: [ {} ];\n",
            list.join(", ")
        ));
    }
    s.push_str("\timages: (\n");
    for (i, (img, file_name, bytes)) in images.iter().enumerate() {
        let sha = hex::encode(Sha256::digest(bytes));
        s.push_str(&format!(
            "\t\t{{\n\t\t\tfilename = \"{}\";\n\t\t\tname = \"{}\";\n\t\t\tversion = \"{}\";\n\t\t\ttype = \"tcu-plugin\";\n\t\t\tsha256 = \"{sha}\";\n\t\t}}{}\n",
            quote(file_name),
            quote(&img.name),
            quote(&img.version),
            if i + 1 < images.len() { "," } else { "" }
        ));
    }
    s.push_str("\t);\n};\n");
    s
}

/// Writes a bundle of `images` with bundle version `version`, fit for the
/// hardware revisions `hw_revisions`, to `out`.
pub fn write(
    out: &Path,
    version: &str,
    hw_revisions: &[String],
    images: &[Image],
) -> std::io::Result<()> {
    let mut loaded = Vec::new();
    for img in images {
        let name = img
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                std::io::Error::other(format!("{}: no file name", img.file.display()))
            })?;
        let bytes = std::fs::read(&img.file)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", img.file.display())))?;
        loaded.push((img.clone(), name, bytes));
    }
    let desc = sw_description(version, hw_revisions, &loaded);
    let mut members = vec![("sw-description".to_owned(), desc.into_bytes())];
    for (img, name, bytes) in loaded {
        let sig = img.sig.as_ref().map(|sig| {
            std::fs::read(sig)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", sig.display())))
        });
        members.push((name.clone(), bytes));
        if let Some(s) = sig {
            members.push((format!("{name}.sig"), s?));
        }
    }
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    tcu_engine::fsutil::write_atomic(out, &cpio(&refs))
}

/// Reads the members of the newc cpio archive at `path` (at most
/// `max_size` bytes).
pub fn read_members(path: &Path, max_size: u64) -> Result<Vec<(String, Vec<u8>)>, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    f.take(max_size.saturating_add(1))
        .read_to_end(&mut all)
        .map_err(|e| e.to_string())?;
    if all.len() as u64 > max_size {
        return Err(format!("larger than {max_size} bytes"));
    }
    parse_members(&all)
}

/// The members (name, bytes) of a newc cpio archive (`070701` or
/// `070702`) up to its trailer. Every member name must be a plain name
/// (see [`check_plain_name`]).
pub fn parse_members(all: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut pos = 0usize;
    let mut out = Vec::new();
    let end_of = |start: usize, len: usize| start.checked_add(len).ok_or("cpio sizes overflow");
    loop {
        let header = all
            .get(pos..end_of(pos, 110)?)
            .ok_or("truncated cpio header")?;
        if &header[..5] != b"07070" || !matches!(header[5], b'1' | b'2') {
            return Err("not a newc cpio archive".into());
        }
        let field = |i: usize| -> Result<usize, String> {
            let digits = &header[6 + i * 8..14 + i * 8];
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return Err("cpio header field is not hexadecimal".into());
            }
            let s = std::str::from_utf8(digits).map_err(|e| e.to_string())?;
            usize::from_str_radix(s, 16).map_err(|e| e.to_string())
        };
        let filesize = field(6)?;
        let namesize = field(11)?;
        let name_start = end_of(pos, 110)?;
        let name_end = end_of(name_start, namesize)?;
        let name_field = all.get(name_start..name_end).ok_or("truncated cpio name")?;
        let Some((&0, name_bytes)) = name_field.split_last() else {
            return Err("cpio name is not NUL-terminated".into());
        };
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        if name == "TRAILER!!!" {
            return Ok(out);
        }
        check_plain_name(&name).map_err(|e| format!("member {e}"))?;
        let data_start = end_of(name_end, pad4(110 + namesize % 4))?;
        let data_end = end_of(data_start, filesize)?;
        let data = all
            .get(data_start..data_end)
            .ok_or_else(|| format!("truncated member {name}"))?;
        out.push((name, data.to_vec()));
        pos = end_of(data_end, pad4(filesize))?;
    }
}

/// `key = "value"` settings of each group inside `images: ( ... )`.
pub fn parse_images(desc: &str) -> Result<Vec<Vec<(String, String)>>, String> {
    let start = desc.find("images").ok_or("sw-description has no images")?;
    let rest = &desc[start..];
    let open = rest.find('(').ok_or("images is not a list")?;
    let mut groups = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    let mut chars = rest[open + 1..].chars().peekable();
    let mut key = String::new();
    while let Some(c) = chars.next() {
        match c {
            '{' => current = Some(Vec::new()),
            '}' => {
                if let Some(g) = current.take() {
                    groups.push(g);
                }
            }
            ')' if current.is_none() => return Ok(groups),
            '"' => {
                let mut v = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                v.push(n);
                            }
                        }
                        '"' => break,
                        c => v.push(c),
                    }
                }
                if let Some(g) = current.as_mut()
                    && !key.is_empty()
                {
                    g.push((std::mem::take(&mut key), v));
                }
            }
            c if (c.is_alphanumeric() || c == '_' || c == '-') && current.is_some() => {
                let mut k = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '-' {
                        k.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                key = k;
            }
            _ => {}
        }
    }
    Err("unterminated images list".into())
}

/// Unpacks a bundle into `dir`: each image (checked against its sha256 when
/// the sw-description gives one) and its signature.
pub fn unpack(bundle: &Path, dir: &Path, max_size: u64) -> Result<Vec<Unpacked>, String> {
    let members = read_members(bundle, max_size)?;
    let (first, desc) = members.first().ok_or("empty bundle")?;
    if first != "sw-description" {
        return Err("the first member is not sw-description".into());
    }
    let desc = String::from_utf8_lossy(desc).into_owned();
    let mut out = Vec::new();
    let mut written = BTreeSet::new();
    for img in parse_images(&desc)? {
        let get = |k: &str| img.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let file = get("filename").ok_or("an image has no filename")?;
        check_plain_name(&file).map_err(|e| format!("image filename {e}"))?;
        let safe = sanitize_file_name(&file)?;
        if !written.insert(safe.clone()) {
            return Err(format!(
                "two images would be written to the same file {safe}"
            ));
        }
        let name = get("name").ok_or_else(|| format!("image {file} has no name"))?;
        check_plain_name(&name).map_err(|e| format!("image {file}: name {e}"))?;
        let bytes = &members
            .iter()
            .find(|(n, _)| *n == file)
            .ok_or_else(|| format!("image {file} is not in the bundle"))?
            .1;
        if let Some(want) = get("sha256") {
            let got = hex::encode(Sha256::digest(bytes));
            if got != want.to_lowercase() {
                return Err(format!(
                    "{file}: sha256 mismatch: expected {want}, got {got}"
                ));
            }
        }
        let path = dir.join(&safe);
        std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
        let sig_name = format!("{file}.sig");
        let mut sig_path = path.as_os_str().to_owned();
        sig_path.push(".sig");
        let sig_path = PathBuf::from(sig_path);
        match members.iter().find(|(n, _)| *n == sig_name) {
            Some((_, s)) => std::fs::write(&sig_path, s)
                .map_err(|e| format!("writing {}: {e}", sig_path.display()))?,
            None => {
                let _ = std::fs::remove_file(&sig_path);
            }
        }
        out.push(Unpacked {
            name,
            version: get("version"),
            path,
        });
    }
    if out.is_empty() {
        return Err("the bundle lists no images".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_round_trips_with_signature() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lib = dir.path().join("libbattery.so");
        std::fs::write(&lib, b"library bytes, odd length").expect("write");
        let sig = dir.path().join("libbattery.so.sig");
        std::fs::write(&sig, b"sig").expect("write");
        let out = dir.path().join("b.swu");
        write(
            &out,
            "2.0.0",
            &["sim-1".to_owned(), "bench-7".to_owned()],
            &[Image {
                name: "battery".into(),
                version: "2.0.0".into(),
                file: lib,
                sig: Some(sig),
            }],
        )
        .expect("write bundle");
        let bytes = std::fs::read(&out).expect("read");
        assert!(bytes.starts_with(b"070701"));
        // goosebit reads the first name right after the 110-byte header.
        assert_eq!(&bytes[110..124], b"sw-description");
        let members = read_members(&out, 1 << 20).expect("members");
        let desc = String::from_utf8_lossy(&members[0].1);
        assert!(
            desc.contains("hardware-compatibility: [ \"sim-1\", \"bench-7\" ];"),
            "{desc}"
        );
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["sw-description", "libbattery.so", "libbattery.so.sig"]
        );
        let into = dir.path().join("x");
        std::fs::create_dir(&into).expect("mkdir");
        let u = unpack(&out, &into, 1 << 20).expect("unpack");
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].name, "battery");
        assert_eq!(u[0].version.as_deref(), Some("2.0.0"));
        assert_eq!(
            std::fs::read(into.join("libbattery.so.sig")).expect("sig"),
            b"sig"
        );
    }

    #[test]
    fn images_are_parsed_from_libconfig() {
        let d = r#"software = { version = "1.0.0"; images: ( { filename = "a.so"; name = "abs"; },
            { filename = "b.so"; name = "hvac"; version = "3.1.0"; } ); };"#;
        let g = parse_images(d).expect("parses");
        assert_eq!(g.len(), 2);
        assert_eq!(g[1][2], ("version".into(), "3.1.0".into()));
    }

    /// A bundle whose sw-description lists `images` as (filename, name),
    /// with `members` (name, bytes) after it.
    fn crafted(images: &[(&str, &str)], members: &[(&str, &[u8])]) -> Vec<u8> {
        let list: Vec<String> = images
            .iter()
            .map(|(f, n)| {
                format!(
                    "{{ filename = \"{}\"; name = \"{}\"; }}",
                    quote(f),
                    quote(n)
                )
            })
            .collect();
        let desc = format!("software = {{ images: ( {} ); }};", list.join(", "));
        let mut all: Vec<(&str, &[u8])> = vec![("sw-description", desc.as_bytes())];
        all.extend_from_slice(members);
        cpio(&all)
    }

    fn unpack_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Vec<Unpacked>, String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let swu = dir.path().join("b.swu");
        std::fs::write(&swu, bytes).expect("write");
        let into = dir.path().join("stage");
        std::fs::create_dir(&into).expect("mkdir");
        let r = unpack(&swu, &into, 1 << 20);
        (dir, r)
    }

    #[test]
    fn bundle_names_that_could_escape_the_staging_directory_are_refused() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [(&'a str, &'a [u8])], &'a str);
        let cases: [Case<'_>; 6] = [
            (
                &[("../../evil.so", "battery")],
                &[("../../evil.so", b"x")],
                "`/`",
            ),
            (
                &[("evil.so", "battery")],
                &[("evil.so", b"x"), ("../x.sig", b"s")],
                "`/`",
            ),
            (
                &[("..\\evil.so", "battery")],
                &[("..\\evil.so", b"x")],
                "`\\`",
            ),
            (&[("lib..so", "battery")], &[("lib..so", b"x")], "`..`"),
            (&[("a\0b", "battery")], &[("a\0b", b"x")], "NUL"),
            (&[("ok.so", "../battery")], &[("ok.so", b"x")], "`/`"),
        ];
        for (images, members, why) in cases {
            let (dir, r) = unpack_bytes(&crafted(images, members));
            let e = r.expect_err(why);
            assert!(e.contains("refused") && e.contains(why), "{images:?}: {e}");
            let left: Vec<_> = walk(dir.path());
            assert_eq!(
                left,
                [dir.path().join("b.swu")],
                "nothing written: {left:?}"
            );
        }
        // An empty member name.
        let (_, r) = unpack_bytes(&cpio(&[("sw-description", b"images: ( );"), ("", b"x")]));
        assert!(r.expect_err("empty").contains("empty"));
    }

    #[test]
    fn two_images_landing_in_one_file_are_refused() {
        let bytes = crafted(
            &[("a b.so", "battery"), ("a_b.so", "abs")],
            &[("a b.so", b"one"), ("a_b.so", b"two")],
        );
        let (_, r) = unpack_bytes(&bytes);
        assert!(r.expect_err("collision").contains("same file a_b.so"));
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn members_parse_from_bytes_and_broken_archives_are_errors() {
        let good = cpio(&[("sw-description", b"d"), ("lib.so", b"12345")]);
        let m = parse_members(&good).expect("parses");
        assert_eq!(
            m,
            [
                ("sw-description".into(), b"d".to_vec()),
                ("lib.so".into(), b"12345".to_vec())
            ]
        );
        // Every truncation is an error, never a panic (up to the trailer's
        // name: its padding is not needed).
        for n in 0..good.len() - 3 {
            assert!(parse_members(&good[..n]).is_err(), "truncated at {n}");
        }
        // Sizes far beyond the data, and fields that are not hex.
        let mut huge = good.clone();
        huge[54..62].copy_from_slice(b"FFFFFFFF");
        assert!(parse_members(&huge).is_err());
        let mut name = good.clone();
        name[94..102].copy_from_slice(b"FFFFFFFF");
        assert!(parse_members(&name).is_err());
        let mut signed = good.clone();
        signed[54..62].copy_from_slice(b"+0000001");
        assert!(parse_members(&signed).is_err());
        assert!(parse_members(b"").is_err());
        assert!(parse_members(&[b'0'; 200]).is_err());
    }
}
