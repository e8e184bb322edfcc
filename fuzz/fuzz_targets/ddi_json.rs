//! Answers of a DDI server: the poll, deploymentBase, cancelAction and
//! confirmationBase bodies, and what the client derives from them (sleep,
//! chunk subsystems, download links). A panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcu_ota_client::ddi::{CancelBase, ConfirmationBase, DeploymentBase, Poll};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = serde_json::from_slice::<Poll>(data) {
        let _ = p.sleep();
    }
    if let Ok(d) = serde_json::from_slice::<DeploymentBase>(data) {
        for chunk in &d.deployment.chunks {
            let _ = chunk.subsystem();
            for a in &chunk.artifacts {
                let _ = a.url();
            }
        }
    }
    let _ = serde_json::from_slice::<CancelBase>(data);
    let _ = serde_json::from_slice::<ConfirmationBase>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tcu_ota_client::ddi::parse_sleep(text);
    }
});
