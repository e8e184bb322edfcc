//! The vehicle page's captures panel in a real headless Chromium, driven
//! through chromedriver, against mosquitto and a `tcu-twin serve`: the
//! chunks of a real capture (hard braking on ice) published as the vehicle
//! would show up as one complete capture with its rule, size and a link
//! whose file is the capture byte for byte; a second capture published
//! while the page is open appears without a reload, incomplete until its
//! last chunk comes.
//!
//! Needs `chromium` and `chromium-driver` (scripts/test installs them);
//! without them the test says so and passes, unless `TCU_REQUIRE_CHROMIUM`
//! is set.

use serde_json::json;
use std::time::Duration;
use tcu_integration_tests::mqtt::{Mosquitto, Subscriber, mosquitto_available};
use tcu_integration_tests::twin::{Twin, abs_capture, capture_chunks, twin_config};
use tcu_integration_tests::webdriver::{self, Browser};

const VIN: &str = "WTCUZ000000000003";
const WAIT: Duration = Duration::from_secs(30);

#[track_caller]
fn text_when(b: &Browser, css: &str, ok: impl Fn(&str) -> bool) -> String {
    b.wait(WAIT, &format!("{css} as expected"), |b| {
        let t = b.text_of(css)?;
        Ok(ok(&t).then_some(t))
    })
}

#[test]
fn the_vehicle_page_lists_captures_as_they_come_and_links_each_complete_file() {
    if !webdriver::available_or_skip() {
        return;
    }
    assert!(mosquitto_available(), "mosquitto is not installed");
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Mosquitto::start(dir.path(), "");
    let twin = Twin::start(
        dir.path(),
        "twin",
        &twin_config(broker.port, dir.path(), "twin", ""),
        &[],
    );
    let client = Subscriber::connect(broker.port, "test-vehicle", "vehicle/+/cmd/req", true);
    let topic = format!("vehicle/{VIN}/captures");
    let file = std::fs::read(abs_capture(dir.path(), VIN)).expect("reading the capture");
    for c in capture_chunks(&file, "abs.engaged", 32 * 1024) {
        client.publish(&topic, c);
    }

    let b = Browser::start();
    b.goto(&format!("{}/vehicle.html?vin={VIN}", twin.url));
    text_when(&b, "#vin", |t| t == VIN);
    text_when(&b, "#captures tbody", |t| {
        t.contains("abs.engaged") && t.contains("yes")
    });
    let rows = b.find_all("#captures tbody tr").expect("rows");
    assert_eq!(rows.len(), 1);
    let size = b.text_of("#captures td[data-col=size]").expect("size");
    assert!(size.ends_with("KiB"), "{size}");
    let link = b
        .find("#captures td[data-col=file] a")
        .expect("a link to the file");
    let href = b
        .attribute(&link, "href")
        .expect("href")
        .expect("the link has an href");
    let fetched = b
        .execute(
            "return fetch(arguments[0]).then(r => r.text())",
            &[json!(href)],
        )
        .expect("fetching the linked file");
    assert!(
        fetched.as_str().map(str::as_bytes) == Some(file.as_slice()),
        "the linked file differs from the capture"
    );

    // A second capture while the page is open: listed at once, incomplete.
    let second = b"# tcu-trace 1\n# tick_rate_hz 100\ntick\n1\n2\n3\n".repeat(40);
    let chunks = capture_chunks(&second, "Vehicle.Speed > 130", 512);
    assert!(chunks.len() >= 2);
    for c in &chunks[1..] {
        client.publish(&topic, c.clone());
    }
    text_when(&b, "#captures tbody", |t| {
        t.contains("Vehicle.Speed > 130")
            && t.contains(&format!("{} of {} chunks", chunks.len() - 1, chunks.len()))
    });
    client.publish(&topic, chunks[0].clone());
    b.wait(WAIT, "both captures complete", |b| {
        let rows = b.find_all("#captures tbody tr[data-complete=true]")?;
        Ok((rows.len() == 2).then_some(()))
    });
    assert_eq!(b.text_of("#status").expect("the status line"), "");
    drop(broker);
}
