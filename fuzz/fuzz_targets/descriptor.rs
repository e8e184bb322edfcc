//! A plugin descriptor as a library could export it: version and size
//! fields, name and version strings, declared signals with datatype codes,
//! missing function pointers. The host's checks must refuse every bad one
//! with an error, never crash. None of the functions is called.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::{CString, c_char, c_void};
use tcu_engine::plugin::PluginLibrary;
use tcu_fuzz::catalog;
use tcu_sdk::abi::{self, TcuPluginDescriptor, TcuSignalDecl, TcuStatus};

unsafe extern "C" fn create(_: u64, _: *mut *mut c_void) -> TcuStatus {
    unreachable!("the checks call no entry point")
}
unsafe extern "C" fn tick(_: *mut c_void, _: f64, _: *const f64, _: *mut f64) -> TcuStatus {
    unreachable!("the checks call no entry point")
}
unsafe extern "C" fn command(_: *mut c_void, _: *const c_char, _: f64) -> TcuStatus {
    unreachable!("the checks call no entry point")
}
unsafe extern "C" fn snapshot(_: *mut c_void, _: *mut u8, _: usize, _: *mut usize) -> TcuStatus {
    unreachable!("the checks call no entry point")
}
unsafe extern "C" fn restore(_: *mut c_void, _: *const u8, _: usize) -> TcuStatus {
    unreachable!("the checks call no entry point")
}
unsafe extern "C" fn destroy(_: *mut c_void) {
    unreachable!("the checks call no entry point")
}
unsafe extern "C" fn last_error(_: *mut c_void, _: *mut c_char, _: usize) -> usize {
    unreachable!("the checks call no entry point")
}

/// Strings from the input, split at NUL (so each is a valid C string);
/// with a bias towards real signal paths so the catalog checks are reached.
fn strings(data: &[u8]) -> Vec<CString> {
    const PATHS: [&str; 4] = [
        "Vehicle.Speed",
        "Sim.Driver.BrakePedal",
        "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
        "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature",
    ];
    data.split(|b| *b == 0)
        .map(|s| match s {
            [n] if *n < 4 => CString::new(PATHS[*n as usize]).expect("no NUL"),
            _ => CString::new(s).expect("split at NUL"),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let [sel, present, n_reads, n_writes, rest @ ..] = data else {
        return;
    };
    let strs = strings(rest);
    let s = |i: usize| strs.get(i).map_or(std::ptr::null(), |c| c.as_ptr());
    // Declarations: path i+2, datatype from the low bits of the selector.
    let decls = |n: u8, from: usize| -> Vec<TcuSignalDecl> {
        (0..usize::from(n % 8))
            .map(|i| TcuSignalDecl {
                path: s(from + i),
                datatype: u32::from((sel >> (i % 4)) & 7),
            })
            .collect()
    };
    let reads = decls(*n_reads, 2);
    let writes = decls(*n_writes, 2 + reads.len());
    let bit = |b: u8| present & (1 << b) != 0;
    let desc = TcuPluginDescriptor {
        abi_version: if sel & 0x80 == 0 { abi::TCU_ABI_VERSION } else { u32::from(*sel) },
        descriptor_size: if sel & 0x40 == 0 { abi::DESCRIPTOR_SIZE } else { u32::from(*n_reads) },
        name: s(0),
        version: s(1),
        reads: if reads.is_empty() && bit(7) { std::ptr::null() } else { reads.as_ptr() },
        n_reads: if bit(7) { usize::from(*n_reads) } else { reads.len() },
        writes: writes.as_ptr(),
        n_writes: writes.len(),
        create: bit(0).then_some(create),
        tick: bit(1).then_some(tick),
        command: bit(2).then_some(command),
        snapshot: bit(3).then_some(snapshot),
        restore: bit(4).then_some(restore),
        destroy: bit(5).then_some(destroy),
        last_error: bit(6).then_some(last_error),
    };
    // `n_reads` may claim more entries than exist only when the pointer is
    // null (the checks refuse that before reading); otherwise it is exact.
    if desc.n_reads != reads.len() && !desc.reads.is_null() {
        return;
    }
    // SAFETY: every pointer is null or points at live data of this frame.
    let _ = unsafe { PluginLibrary::check_descriptor(&desc, &catalog()) };
});
