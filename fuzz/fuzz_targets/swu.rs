//! An SWU bundle as a server or a disk hands it over: a newc cpio archive
//! whose first member is `sw-description`. Its members and images are read
//! with every size and name checked; a panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcu_ota_client::swu;

fuzz_target!(|data: &[u8]| {
    if let Ok(members) = swu::parse_members(data)
        && let Some((_, desc)) = members.first()
        && let Ok(text) = std::str::from_utf8(desc)
    {
        let _ = swu::parse_images(text);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = swu::parse_images(text);
    }
});
