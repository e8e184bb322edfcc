//! Keeps `include/tcu_plugin.h` in sync with `src/abi.rs`.
//!
//! The test writes a small C program that includes the header and prints one
//! `key value` line per constant, struct size, alignment, field offset, field
//! size and type check; it compiles the program with the system C compiler
//! (`$CC`, else `cc`), runs it and compares every line with the Rust values.
//!
//! What to compare is derived from the sources themselves, not only from a
//! list in this file, so that a change on one side alone fails:
//! - the `pub const` items of `abi.rs` must match the `#define TCU_*` names of
//!   the header, and both must match the value table below;
//! - the fields of each struct are parsed from both files and must agree in
//!   name and order with each other and with the `offset_of!` table below;
//! - field types and function pointer typedefs are translated from their Rust
//!   spelling to C and checked with `__builtin_types_compatible_p`, which
//!   catches what sizes alone cannot (`float` for `double`, a lost `const`).
//!
//! No dependency is added for this: `tcu-sdk` has none by default and stays
//! that way (the `snapshot` feature is for plugins).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use tcu_sdk::abi::*;

const ABI_RS: &str = include_str!("../src/abi.rs");
const HEADER: &str = include_str!("../include/tcu_plugin.h");

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("include")
}

/// The include guard is the only `TCU_` macro that is not part of the ABI.
const INCLUDE_GUARD: &str = "TCU_PLUGIN_H";

/// Integer constants of `abi.rs`, by C name. A constant added to `abi.rs`
/// must be added here too (the test checks that), so its value is compared.
fn integer_constants() -> Vec<(&'static str, i64)> {
    vec![
        ("TCU_ABI_VERSION", TCU_ABI_VERSION.into()),
        ("TCU_DESCRIPTOR_SIZE", DESCRIPTOR_SIZE.into()),
        ("TCU_STATUS_OK", TCU_STATUS_OK.into()),
        ("TCU_STATUS_ERROR", TCU_STATUS_ERROR.into()),
        ("TCU_STATUS_PANIC", TCU_STATUS_PANIC.into()),
        (
            "TCU_STATUS_INVALID_ARGUMENT",
            TCU_STATUS_INVALID_ARGUMENT.into(),
        ),
        (
            "TCU_STATUS_BUFFER_TOO_SMALL",
            TCU_STATUS_BUFFER_TOO_SMALL.into(),
        ),
        ("TCU_STATUS_UNSUPPORTED", TCU_STATUS_UNSUPPORTED.into()),
        ("TCU_TYPE_BOOLEAN", TCU_TYPE_BOOLEAN.into()),
        ("TCU_TYPE_INT8", TCU_TYPE_INT8.into()),
        ("TCU_TYPE_UINT8", TCU_TYPE_UINT8.into()),
        ("TCU_TYPE_INT16", TCU_TYPE_INT16.into()),
        ("TCU_TYPE_UINT16", TCU_TYPE_UINT16.into()),
        ("TCU_TYPE_INT32", TCU_TYPE_INT32.into()),
        ("TCU_TYPE_UINT32", TCU_TYPE_UINT32.into()),
        ("TCU_TYPE_FLOAT", TCU_TYPE_FLOAT.into()),
        ("TCU_TYPE_DOUBLE", TCU_TYPE_DOUBLE.into()),
    ]
}

/// String constants of `abi.rs`, by C name (without the trailing NUL).
fn string_constants() -> Vec<(&'static str, &'static str)> {
    let symbol = std::str::from_utf8(DESCRIPTOR_SYMBOL).expect("symbol is ASCII");
    let symbol = symbol
        .strip_suffix('\0')
        .expect("DESCRIPTOR_SYMBOL is NUL-terminated");
    vec![("TCU_DESCRIPTOR_SYMBOL", symbol)]
}

/// Layout of one struct as Rust sees it.
struct RustLayout {
    name: &'static str,
    size: usize,
    align: usize,
    /// (field, offset, size)
    fields: Vec<(&'static str, usize, usize)>,
}

/// Size of the field a projection closure points at, without an instance.
fn field_size<T, F>(_project: impl for<'a> Fn(&'a T) -> &'a F) -> usize {
    core::mem::size_of::<F>()
}

macro_rules! rust_layout {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        RustLayout {
            name: stringify!($ty),
            size: core::mem::size_of::<$ty>(),
            align: core::mem::align_of::<$ty>(),
            fields: vec![$((
                stringify!($field),
                core::mem::offset_of!($ty, $field),
                field_size(|s: &$ty| &s.$field),
            )),*],
        }
    };
}

fn rust_layouts() -> Vec<RustLayout> {
    vec![
        rust_layout!(TcuSignalDecl { path, datatype }),
        rust_layout!(TcuPluginDescriptor {
            abi_version,
            descriptor_size,
            name,
            version,
            reads,
            n_reads,
            writes,
            n_writes,
            create,
            tick,
            command,
            snapshot,
            restore,
            destroy,
            last_error,
        }),
    ]
}

/// Removes `//` comments (Rust) or `/* */` comments (C), keeping newlines.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            let end = after.find("*/").expect("unterminated comment");
            out.extend(after[..end].chars().filter(|&c| c == '\n'));
            rest = &after[end + 2..];
        } else if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            rest = &rest[end..];
        } else if rest.starts_with('"') {
            // Keep string literals whole so `"//"` or `"/*"` inside one is not
            // taken for a comment (the C header has `"tcu_plugin_descriptor"`).
            let end = rest[1..].find('"').expect("unterminated string") + 2;
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// `pub const NAME` items of `abi.rs`, mapped to their C names (`TCU_` is
/// added where the Rust name lacks it, as for `DESCRIPTOR_SYMBOL`).
fn rust_constant_names() -> BTreeSet<String> {
    strip_comments(ABI_RS)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter(|rest| !rest.starts_with("fn "))
        .map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.starts_with("TCU_") {
                name
            } else {
                format!("TCU_{name}")
            }
        })
        .collect()
}

/// `#define TCU_*` names of the header, without the include guard.
fn header_define_names() -> BTreeSet<String> {
    strip_comments(HEADER)
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().strip_prefix('#')?.trim_start();
            let rest = l.strip_prefix("define")?.trim_start();
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (name.starts_with("TCU_") && name != INCLUDE_GUARD).then_some(name)
        })
        .collect()
}

/// Text between the first `{` after `start` and its `}`.
fn braced_body<'a>(src: &'a str, start: &str) -> &'a str {
    let at = src
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not found"));
    let open = at + src[at..].find('{').expect("opening brace");
    let close = open + src[open..].find('}').expect("closing brace");
    &src[open + 1..close]
}

/// (field, Rust type) of `pub struct name`, in declaration order.
fn rust_struct_fields(name: &str) -> Vec<(String, String)> {
    let src = strip_comments(ABI_RS);
    braced_body(&src, &format!("pub struct {name} "))
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            let f = f.strip_prefix("pub ").expect("fields are pub");
            let (field, ty) = f.split_once(':').expect("`name: type`");
            (field.trim().to_owned(), ty.trim().to_owned())
        })
        .collect()
}

/// Field names of `typedef struct name {...}` in the header, in order.
fn header_struct_fields(name: &str) -> Vec<String> {
    let src = strip_comments(HEADER);
    braced_body(&src, &format!("typedef struct {name} "))
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            // The declared name is the last identifier of the declaration.
            let ident: String = d
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            ident.chars().rev().collect()
        })
        .collect()
}

/// Rust integer aliases (`pub type TcuStatus = i32;`) and function pointer
/// aliases (`pub type TcuTickFn = unsafe extern "C" fn(...) -> ...;`).
fn rust_type_aliases() -> Vec<(String, String)> {
    let src = strip_comments(ABI_RS);
    let mut out = Vec::new();
    let mut rest = src.as_str();
    while let Some(at) = rest.find("pub type ") {
        let decl = &rest[at + "pub type ".len()..];
        let end = decl.find(';').expect("`;` after a type alias");
        let (name, ty) = decl[..end].split_once('=').expect("`=` in a type alias");
        let ty = ty.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push((name.trim().to_owned(), ty));
        rest = &decl[end..];
    }
    out
}

/// C spelling of a Rust type used in the ABI.
fn c_type(rust: &str) -> String {
    let rust = rust.trim();
    if let Some(inner) = rust.strip_prefix("*const ") {
        return format!("const {} *", c_type(inner));
    }
    if let Some(inner) = rust.strip_prefix("*mut ") {
        return format!("{} *", c_type(inner));
    }
    if let Some(inner) = rust
        .strip_prefix("Option<")
        .and_then(|r| r.strip_suffix('>'))
    {
        // A nullable function pointer is a plain function pointer in C.
        return c_type(inner);
    }
    if let Some(sig) = rust.strip_prefix("unsafe extern \"C\" fn") {
        return c_fn_pointer(sig);
    }
    match rust {
        "u8" => "uint8_t",
        "u32" => "uint32_t",
        "u64" => "uint64_t",
        "i32" => "int32_t",
        "f64" => "double",
        "usize" => "size_t",
        "c_char" => "char",
        "c_void" => "void",
        t if t.starts_with("Tcu") && t.chars().all(|c| c.is_ascii_alphanumeric()) => t,
        other => panic!("no C spelling for Rust type `{other}`: extend c_type()"),
    }
    .to_owned()
}

/// C abstract declarator of a Rust `fn(a: A, b: B) -> R` signature.
fn c_fn_pointer(sig: &str) -> String {
    let sig = sig.trim();
    let open = sig.find('(').expect("`(` in fn type");
    let close = sig.rfind(')').expect("`)` in fn type");
    let params: Vec<String> = sig[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| c_type(p.split_once(':').map_or(p, |(_, ty)| ty)))
        .collect();
    let ret = sig[close + 1..]
        .trim()
        .strip_prefix("->")
        .map_or_else(|| "void".to_owned(), c_type);
    let params = if params.is_empty() {
        "void".to_owned()
    } else {
        params.join(", ")
    };
    format!("{ret} (*)({params})")
}

fn c_string_literal(s: &str) -> String {
    assert!(
        s.chars().all(|c| c.is_ascii_graphic() || c == ' ') && !s.contains(['"', '\\']),
        "only plain ASCII names are expected here: {s:?}"
    );
    format!("\"{s}\"")
}

/// What the test compares: the C program source and the lines it must print.
struct Probe {
    program: String,
    expected: BTreeMap<String, String>,
}

fn probe() -> Probe {
    let mut body = String::new();
    let mut expected = BTreeMap::new();
    let mut print_int = |key: String, c_expr: String, value: String, body: &mut String| {
        body.push_str(&format!(
            "    printf(\"%s %lld\\n\", {}, (long long)({c_expr}));\n",
            c_string_literal(&key)
        ));
        expected.insert(key, value);
    };

    for (name, value) in integer_constants() {
        print_int(
            name.to_owned(),
            name.to_owned(),
            value.to_string(),
            &mut body,
        );
    }
    // Integer aliases must be exactly the same C type, function pointer
    // aliases exactly the same signature.
    for (alias, rust_ty) in rust_type_aliases() {
        let c_ty = c_type(&rust_ty);
        print_int(
            format!("typedef {alias}"),
            format!("__builtin_types_compatible_p({alias}, {c_ty})"),
            "1".to_owned(),
            &mut body,
        );
    }
    for layout in rust_layouts() {
        let ty = layout.name;
        print_int(
            format!("sizeof {ty}"),
            format!("sizeof({ty})"),
            layout.size.to_string(),
            &mut body,
        );
        // offsetof in a wrapper struct is C99's alignof.
        print_int(
            format!("alignof {ty}"),
            format!("offsetof(struct {{ char c; {ty} t; }}, t)"),
            layout.align.to_string(),
            &mut body,
        );
        let types: BTreeMap<String, String> = rust_struct_fields(ty).into_iter().collect();
        for (field, offset, size) in &layout.fields {
            let key = format!("{ty}.{field}");
            print_int(
                format!("offsetof {key}"),
                format!("offsetof({ty}, {field})"),
                offset.to_string(),
                &mut body,
            );
            print_int(
                format!("sizeof {key}"),
                format!("sizeof((({ty} *)0)->{field})"),
                size.to_string(),
                &mut body,
            );
            let rust_ty = types
                .get(*field)
                .unwrap_or_else(|| panic!("{key} is not a field in abi.rs"));
            print_int(
                format!("type {key}"),
                format!(
                    "__builtin_types_compatible_p(__typeof__((({ty} *)0)->{field}), {})",
                    c_type(rust_ty)
                ),
                "1".to_owned(),
                &mut body,
            );
        }
    }
    for (name, value) in string_constants() {
        body.push_str(&format!(
            "    printf(\"%s %s\\n\", {}, {name});\n",
            c_string_literal(name)
        ));
        expected.insert(name.to_owned(), value.to_owned());
    }

    let program = format!(
        "/* Generated by subsystems/sdk/tests/header_sync.rs. */\n\
         #include <stddef.h>\n\
         #include <stdio.h>\n\
         #include \"tcu_plugin.h\"\n\
         \n\
         int main(void) {{\n{body}    return 0;\n}}\n"
    );
    Probe { program, expected }
}

/// A fresh directory under the system temp dir, unique per process and call.
fn scratch_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "tcu-sdk-header-sync-{}-{tag}-{n}",
        std::process::id()
    ));
    // A leftover of a crashed run with a recycled pid is stale: start clean.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn c_compiler() -> String {
    std::env::var("CC")
        .ok()
        .filter(|cc| !cc.trim().is_empty())
        .unwrap_or_else(|| "cc".to_owned())
}

/// Runs a compiler, panicking with its output when it fails.
fn compile(compiler: &str, args: &[&std::ffi::OsStr]) {
    let output = Command::new(compiler)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running C compiler `{compiler}`: {e} (set CC)"));
    assert!(
        output.status.success(),
        "`{compiler} {args:?}` failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn header_matches_abi_rs() {
    let probe = probe();
    let dir = scratch_dir("probe");
    let src = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&src, &probe.program).expect("write probe.c");

    let include = include_dir();
    // -std=c99 -pedantic: the header must stay plain C99 (the GNU builtins
    // used by the probe itself are accepted under -pedantic).
    compile(
        &c_compiler(),
        &[
            "-std=c99".as_ref(),
            "-pedantic".as_ref(),
            "-Wall".as_ref(),
            "-Wextra".as_ref(),
            "-Werror".as_ref(),
            "-I".as_ref(),
            include.as_os_str(),
            src.as_os_str(),
            "-o".as_ref(),
            exe.as_os_str(),
        ],
    );
    let output = Command::new(&exe).output().expect("run probe");
    assert!(
        output.status.success(),
        "probe exited with {}",
        output.status
    );
    let stdout = String::from_utf8(output.stdout).expect("probe output is UTF-8");

    let mut actual = BTreeMap::new();
    for line in stdout.lines() {
        let (key, value) = line.rsplit_once(' ').expect("`key value` line");
        assert!(
            actual.insert(key.to_owned(), value.to_owned()).is_none(),
            "duplicate probe line for {key}"
        );
    }
    let mismatches: Vec<String> = probe
        .expected
        .iter()
        .filter(|(key, value)| actual.get(*key) != Some(*value))
        .map(|(key, value)| {
            format!(
                "{key}: Rust {value}, C {}",
                actual.get(key).map_or("(missing)", String::as_str)
            )
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "tcu_plugin.h differs from abi.rs:\n  {}\n(probe program: {})",
        mismatches.join("\n  "),
        src.display()
    );
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        probe.expected.keys().collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_abi_constant_has_a_header_define_and_a_checked_value() {
    let rust = rust_constant_names();
    let header = header_define_names();
    let checked: BTreeSet<String> = integer_constants()
        .into_iter()
        .map(|(n, _)| n.to_owned())
        .chain(string_constants().into_iter().map(|(n, _)| n.to_owned()))
        .collect();

    let only_rust: Vec<_> = rust.difference(&header).collect();
    let only_header: Vec<_> = header.difference(&rust).collect();
    assert!(
        only_rust.is_empty() && only_header.is_empty(),
        "constants in abi.rs without a #define in tcu_plugin.h: {only_rust:?}; \
         #defines in tcu_plugin.h without a constant in abi.rs: {only_header:?}"
    );
    assert_eq!(
        checked, rust,
        "the value table of header_sync.rs must list every abi.rs constant"
    );
}

#[test]
fn struct_fields_agree_in_order_across_abi_rs_header_and_test() {
    for layout in rust_layouts() {
        let rust: Vec<String> = rust_struct_fields(layout.name)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        let header = header_struct_fields(layout.name);
        let table: Vec<String> = layout.fields.iter().map(|f| f.0.to_owned()).collect();
        assert_eq!(
            rust, header,
            "fields of {} differ between abi.rs and tcu_plugin.h",
            layout.name
        );
        assert_eq!(
            rust, table,
            "the offset_of! table of header_sync.rs is stale for {}",
            layout.name
        );
    }
}

#[test]
fn every_function_pointer_type_is_checked() {
    // The probe checks every `pub type` of abi.rs; make sure the parser saw
    // the function pointer aliases at all, so an abi.rs reformat that hides
    // them from it does not silently drop the signature checks.
    let aliases: BTreeSet<String> = rust_type_aliases().into_iter().map(|(n, _)| n).collect();
    for name in [
        "TcuStatus",
        "TcuDataType",
        "TcuCreateFn",
        "TcuTickFn",
        "TcuCommandFn",
        "TcuSnapshotFn",
        "TcuRestoreFn",
        "TcuDestroyFn",
        "TcuLastErrorFn",
    ] {
        assert!(aliases.contains(name), "type alias {name} not parsed");
    }
}

#[test]
fn header_has_include_guard_and_cpp_linkage_guard() {
    // Compiling as C++ cannot catch a missing `extern "C"` (a global C++
    // variable is not name-mangled), so check the text itself.
    let src = strip_comments(HEADER);
    let lines: Vec<&str> = src
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.first(), Some(&"#ifndef TCU_PLUGIN_H"));
    assert_eq!(lines.get(1), Some(&"#define TCU_PLUGIN_H"));
    assert_eq!(lines.last(), Some(&"#endif"));
    let guard_open = lines
        .windows(3)
        .any(|w| w == ["#ifdef __cplusplus", "extern \"C\" {", "#endif"]);
    let guard_close = lines
        .windows(3)
        .any(|w| w == ["#ifdef __cplusplus", "}", "#endif"]);
    assert!(
        guard_open && guard_close,
        "tcu_plugin.h lacks its `extern \"C\"` guard"
    );
}

#[test]
fn header_compiles_as_cpp() {
    // The `extern "C"` guard matters only to C++; compile a translation unit
    // that defines a descriptor, which needs the guard for C linkage.
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned());
    if Command::new(&cxx).arg("--version").output().is_err() {
        eprintln!("skipping: no C++ compiler `{cxx}`");
        return;
    }
    let dir = scratch_dir("cpp");
    let src = dir.join("probe.cpp");
    let obj = dir.join("probe.o");
    std::fs::write(
        &src,
        "#include \"tcu_plugin.h\"\n\
         const TcuPluginDescriptor tcu_plugin_descriptor = {\n\
         TCU_ABI_VERSION, TCU_DESCRIPTOR_SIZE, \"cpp\", \"0.0.1\",\n\
         nullptr, 0, nullptr, 0, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};\n",
    )
    .expect("write probe.cpp");
    let include = include_dir();
    compile(
        &cxx,
        &[
            "-Wall".as_ref(),
            "-Wextra".as_ref(),
            "-Werror".as_ref(),
            "-c".as_ref(),
            "-I".as_ref(),
            include.as_os_str(),
            src.as_os_str(),
            "-o".as_ref(),
            obj.as_os_str(),
        ],
    );
    // Without the guard the symbol would be mangled (and, being const, local).
    if let Ok(nm) = Command::new("nm").arg(&obj).output() {
        let syms = String::from_utf8_lossy(&nm.stdout);
        assert!(
            syms.lines().any(|l| l.ends_with(" R tcu_plugin_descriptor")
                || l.ends_with(" D tcu_plugin_descriptor")),
            "C++ object does not export an unmangled tcu_plugin_descriptor:\n{syms}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
