//! `cmd/req` payloads from the broker: parsed, validated against the
//! catalog on a vehicle's bus, answered. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcu_engine::bus::Bus;
use tcu_engine::record::CaptureRule;
use tcu_fuzz::catalog;

fuzz_target!(|data: &[u8]| {
    match tcu_link::command::parse(data) {
        Ok(cmd) => {
            let mut bus = Bus::new(catalog());
            // Capture rules are checked against the catalog by the capturer.
            for r in cmd.capture_rules.iter().flatten() {
                let _ = CaptureRule::parse(&r.rule, r.before_s, r.after_s, bus.catalog());
            }
            let outcome = bus.set_actuators(&cmd.set);
            let _ = tcu_link::command::response(Some(&cmd.id), &outcome);
        }
        Err(refusal) => {
            let _ = tcu_link::command::response(refusal.id.as_deref(), &Err(refusal.errors));
        }
    }
});
