//! Answers of a DDI server: the poll, deploymentBase, cancelAction and
//! confirmationBase bodies as the client parses them (ids checked), and
//! what it derives from them (sleep, chunk subsystems, download links). A
//! panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcu_ota_client::ddi;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ddi::parse_poll(data) {
        let _ = p.sleep();
    }
    if let Ok(d) = ddi::parse_deployment_base(data) {
        for chunk in &d.deployment.chunks {
            let _ = chunk.subsystem();
            for a in &chunk.artifacts {
                let _ = a.url();
            }
        }
    }
    let _ = ddi::parse_cancel(data);
    let _ = ddi::parse_confirmation(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ddi::parse_sleep(text);
    }
});
