//! The twin's fault panel in a real headless Chromium, driven through
//! chromedriver, against mosquitto, a `tcu-twin serve` and two `tcu run
//! --headless` vehicles: the panel lists the injectable faults, Inject
//! sends the selected one (the first, the ABS wheel speed sensor), shows
//! the vehicle's `accepted` and then the code among the reported active
//! codes; Heal clears it.
//!
//! Needs `chromium` and `chromium-driver` (scripts/test installs them);
//! without them the test says so and passes, unless `TCU_REQUIRE_CHROMIUM`
//! is set.

use std::time::Duration;
use tcu_integration_tests::twin::{Rig, VINS};
use tcu_integration_tests::webdriver::{self, Browser};

const WAIT: Duration = Duration::from_secs(30);

#[track_caller]
fn text_when(b: &Browser, css: &str, ok: impl Fn(&str) -> bool) -> String {
    b.wait(WAIT, &format!("{css} as expected"), |b| {
        let t = b.text_of(css)?;
        Ok(ok(&t).then_some(t))
    })
}

#[test]
fn the_fault_panel_injects_a_fault_shows_its_code_and_heals_it() {
    if !webdriver::available_or_skip() {
        return;
    }
    let rig = Rig::start("", &[], None);
    let vin = VINS[0];
    let b = Browser::start();
    b.goto(&format!("{}/vehicle.html?vin={vin}", rig.twin.url));
    text_when(&b, "#vin", |t| t == vin);
    text_when(&b, "#fault-name", |t| t.contains("C0035"));
    text_when(&b, "#dtc-list", |t| t == "none");

    b.click(&b.find("#fault-inject").expect("the Inject button"))
        .expect("injecting");
    let said = text_when(&b, "#fault-message", |t| t.contains("accepted"));
    assert!(said.contains("abs fault.wheel_sensor=1"), "{said}");
    text_when(&b, "#dtc-list", |t| t == "C0035");

    b.click(&b.find("#fault-heal").expect("the Heal button"))
        .expect("healing");
    text_when(&b, "#fault-message", |t| {
        t.contains("fault.wheel_sensor=0: accepted")
    });
    text_when(&b, "#dtc-list", |t| t == "none");
    assert_eq!(b.text_of("#status").expect("the status line"), "");
}
