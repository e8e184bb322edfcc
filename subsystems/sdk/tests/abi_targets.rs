//! The plugin ABI's layout on both 64-bit Linux targets the project builds
//! for (`x86_64-unknown-linux-gnu`, `aarch64-unknown-linux-gnu`, Raspberry
//! Pi OS 64-bit), computed from the type definitions in `src/abi.rs` with
//! each target's C data model, must be the layout this build has: same
//! size (the `descriptor_size` a plugin reports), alignment and field
//! offsets. So a plugin cross-built for the other target is loaded exactly
//! like a native one, and nothing in the ABI leans on x86 sizes.
//!
//! Only the host target's standard library is installed, so the other
//! target's layout is derived (C struct rules: each field at the next
//! multiple of its alignment, the size rounded up to the largest one)
//! rather than compiled.

use tcu_sdk::abi::*;

const ABI_RS: &str = include_str!("../src/abi.rs");

/// Size and alignment of the scalar kinds on one target.
struct DataModel {
    triple: &'static str,
    pointer: (usize, usize),
    u32: (usize, usize),
}

const TARGETS: &[DataModel] = &[
    DataModel {
        triple: "x86_64-unknown-linux-gnu",
        pointer: (8, 8),
        u32: (4, 4),
    },
    DataModel {
        triple: "aarch64-unknown-linux-gnu",
        pointer: (8, 8),
        u32: (4, 4),
    },
];

/// Fields (name, Rust type) of `pub struct name` in `abi.rs`, in order.
fn fields(name: &str) -> Vec<(String, String)> {
    let start = ABI_RS
        .find(&format!("pub struct {name} {{"))
        .unwrap_or_else(|| panic!("struct {name} not in abi.rs"));
    let body = &ABI_RS[start..];
    let end = body.find("\n}").expect("end of struct");
    body[..end]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| l.starts_with("pub "))
        .map(|l| {
            let (n, t) = l["pub ".len()..]
                .split_once(':')
                .unwrap_or_else(|| panic!("field line {l}"));
            (
                n.trim().to_owned(),
                t.trim().trim_end_matches(',').to_owned(),
            )
        })
        .collect()
}

/// Size and alignment of a field type on `m`.
fn scalar(ty: &str, m: &DataModel) -> (usize, usize) {
    match ty {
        "u32" | "TcuDataType" | "TcuStatus" => m.u32,
        "usize" => m.pointer,
        t if t.starts_with("*const ") || t.starts_with("*mut ") => m.pointer,
        // A function pointer; `Option` of one is the same (null for None).
        t if t.starts_with("Option<Tcu") && t.ends_with("Fn>") => m.pointer,
        other => panic!("no size known for field type `{other}`: add it here"),
    }
}

/// (size, alignment, field offsets) by C rules.
fn c_layout(fields: &[(String, String)], m: &DataModel) -> (usize, usize, Vec<usize>) {
    let (mut offset, mut align, mut offsets) = (0usize, 1usize, Vec::new());
    for (_, ty) in fields {
        let (s, a) = scalar(ty, m);
        offset = offset.next_multiple_of(a);
        offsets.push(offset);
        offset += s;
        align = align.max(a);
    }
    (offset.next_multiple_of(align), align, offsets)
}

#[test]
fn the_plugin_abi_has_one_layout_on_both_64_bit_targets() {
    let descriptor = fields("TcuPluginDescriptor");
    let host_descriptor = [
        core::mem::offset_of!(TcuPluginDescriptor, abi_version),
        core::mem::offset_of!(TcuPluginDescriptor, descriptor_size),
        core::mem::offset_of!(TcuPluginDescriptor, name),
        core::mem::offset_of!(TcuPluginDescriptor, version),
        core::mem::offset_of!(TcuPluginDescriptor, reads),
        core::mem::offset_of!(TcuPluginDescriptor, n_reads),
        core::mem::offset_of!(TcuPluginDescriptor, writes),
        core::mem::offset_of!(TcuPluginDescriptor, n_writes),
        core::mem::offset_of!(TcuPluginDescriptor, create),
        core::mem::offset_of!(TcuPluginDescriptor, tick),
        core::mem::offset_of!(TcuPluginDescriptor, command),
        core::mem::offset_of!(TcuPluginDescriptor, snapshot),
        core::mem::offset_of!(TcuPluginDescriptor, restore),
        core::mem::offset_of!(TcuPluginDescriptor, destroy),
        core::mem::offset_of!(TcuPluginDescriptor, last_error),
    ];
    assert_eq!(
        descriptor.len(),
        host_descriptor.len(),
        "a field was added to TcuPluginDescriptor: add it to this test"
    );
    let decl = fields("TcuSignalDecl");
    let host_decl = [
        core::mem::offset_of!(TcuSignalDecl, path),
        core::mem::offset_of!(TcuSignalDecl, datatype),
    ];
    assert_eq!(decl.len(), host_decl.len());
    for m in TARGETS {
        let (size, align, offsets) = c_layout(&descriptor, m);
        assert_eq!(
            size, DESCRIPTOR_SIZE as usize,
            "{}: descriptor size",
            m.triple
        );
        assert_eq!(
            size,
            core::mem::size_of::<TcuPluginDescriptor>(),
            "{}",
            m.triple
        );
        assert_eq!(
            align,
            core::mem::align_of::<TcuPluginDescriptor>(),
            "{}",
            m.triple
        );
        assert_eq!(offsets, host_descriptor, "{}: descriptor offsets", m.triple);
        let (size, align, offsets) = c_layout(&decl, m);
        assert_eq!(size, core::mem::size_of::<TcuSignalDecl>(), "{}", m.triple);
        assert_eq!(
            align,
            core::mem::align_of::<TcuSignalDecl>(),
            "{}",
            m.triple
        );
        assert_eq!(
            offsets, host_decl,
            "{}: signal declaration offsets",
            m.triple
        );
    }
    // The figures themselves: 2 x u32, 13 pointer-sized fields.
    assert_eq!(DESCRIPTOR_SIZE, 8 + 13 * 8);
}

#[test]
fn the_layout_model_tells_a_32_bit_target_apart() {
    // The model is not blind: with 4-byte pointers the descriptor shrinks.
    let m = DataModel {
        triple: "armv7-unknown-linux-gnueabihf",
        pointer: (4, 4),
        u32: (4, 4),
    };
    let (size, _, _) = c_layout(&fields("TcuPluginDescriptor"), &m);
    assert_ne!(size, DESCRIPTOR_SIZE as usize, "{}", m.triple);
}
