//! The twin's web page in a real headless Chromium, driven through
//! chromedriver, against a twin that requires tokens, a mosquitto and two
//! `tcu run --headless` vehicles: with the token typed into the page, the
//! fleet table lists both VINs live; a vehicle page follows the document
//! without a reload; a setpoint typed into the form shows the catalog's
//! refusal, then goes to `applied` on the page while an independent MQTT
//! subscriber sees the car report it; and the history chart draws a line
//! of points. A setpoint made against a desired version someone else has
//! changed meanwhile shows the 412 and the current state, and goes through
//! when set again.
//!
//! Needs `chromium` and `chromium-driver` (scripts/test installs them);
//! without them the test says so and passes, unless `TCU_REQUIRE_CHROMIUM`
//! is set, where a missing browser is a failure. A failure leaves a
//! screenshot and the page source behind and prints their paths.

use serde_json::json;
use std::time::Duration;
use tcu_integration_tests::mqtt::Subscriber;
use tcu_integration_tests::twin::{Rig, VINS};
use tcu_integration_tests::webdriver::{self, Browser, WdResult};

const WRITE: &str = "web-writer-token-0123456789abcdef";
const FAN: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed";
const SETPOINT: &str = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature";
const WAIT: Duration = Duration::from_secs(30);

/// The page's document version, once it shows one.
fn shown_version(b: &Browser) -> WdResult<Option<u64>> {
    Ok(b.text_of("#doc-version")?.parse().ok())
}

/// The text of `css` once `ok` holds for it.
#[track_caller]
fn text_when(b: &Browser, css: &str, ok: impl Fn(&str) -> bool) -> String {
    b.wait(WAIT, &format!("{css} as expected"), |b| {
        let t = b.text_of(css)?;
        Ok(ok(&t).then_some(t))
    })
}

/// Types `path` and `value` into the setpoint form and submits it.
fn set(b: &Browser, path: &str, value: &str) {
    b.type_into(&b.find("#setpoint-path").expect("path input"), path)
        .expect("typing the path");
    b.type_into(&b.find("#setpoint-value").expect("value input"), value)
        .expect("typing the value");
    b.click(&b.find("#setpoint-submit").expect("the Set button"))
        .expect("submitting");
}

#[test]
fn the_web_page_lists_the_fleet_follows_a_vehicle_live_sets_a_setpoint_that_reaches_the_car_and_charts_its_history()
 {
    if !webdriver::available_or_skip() {
        return;
    }
    let rig = Rig::start("", &[("TCU_TWIN_WRITE_TOKENS", WRITE)], Some(WRITE));
    let b = Browser::start();

    // The page itself is public; the API needs the token, typed in once.
    b.goto(&format!("{}/", rig.twin.url));
    b.type_into(&b.find("#token").expect("the token field"), WRITE)
        .expect("typing the token");
    b.click(&b.find("#token-save").expect("the token button"))
        .expect("saving the token");
    text_when(&b, "#token-state", |t| t == "a token is set");
    text_when(&b, "#stream-state", |t| t == "live");
    for vin in VINS {
        let row = format!("#fleet tr[data-vin=\"{vin}\"]");
        text_when(&b, &format!("{row} td[data-col=\"vin\"]"), |t| t == vin);
        text_when(&b, &format!("{row} td[data-col=\"connectivity\"]"), |t| {
            t == "online"
        });
    }

    // The VIN links to the vehicle page.
    let vin = VINS[0];
    b.click(
        &b.find(&format!("#fleet tr[data-vin=\"{vin}\"] a"))
            .expect("the VIN link"),
    )
    .expect("opening the vehicle page");
    text_when(&b, "#vin", |t| t == vin);
    assert!(
        b.url().expect("the URL").contains("/vehicle.html?vin="),
        "{:?}",
        b.url()
    );
    text_when(&b, "#stream-state", |t| t == "live");

    // Live: the shown document version grows with the car's telemetry,
    // on the same page (a marker set in it survives).
    b.execute("window.tcuTestMarker = 'kept'; return null;", &[])
        .expect("setting a marker");
    let first = b.wait(WAIT, "a document version", shown_version);
    b.wait(WAIT, "a newer document version", |b| {
        Ok(shown_version(b)?.filter(|v| *v > first))
    });
    assert_eq!(
        b.execute("return window.tcuTestMarker;", &[])
            .expect("reading the marker"),
        "kept",
        "the page was reloaded"
    );
    text_when(
        &b,
        &format!("#reported tr[data-path=\"{SETPOINT}\"] td[data-col=\"value\"]"),
        |t| !t.is_empty(),
    );

    // What the catalog refuses is shown with the problem's detail.
    set(&b, SETPOINT, "35");
    let message = text_when(&b, "#setpoint-message", |t| t.starts_with("422"));
    assert!(message.contains("outside"), "{message}");
    let el = b.find("#setpoint-message").expect("the message");
    assert_eq!(
        b.attribute(&el, "data-kind").expect("its kind").as_deref(),
        Some("error")
    );

    // A valid setpoint reaches the car.
    let watcher = Subscriber::connect(
        rig.broker.port,
        "web-test-observer",
        &format!("vehicle/{vin}/telemetry"),
        true,
    );
    set(&b, SETPOINT, "26.5");
    let row = format!("#desired tr[data-path=\"{SETPOINT}\"]");
    b.wait(WAIT, "the setpoint applied on the page", |b| {
        let el = b.find(&row)?;
        Ok((b.attribute(&el, "data-state")?.as_deref() == Some("applied")).then_some(()))
    });
    assert_eq!(
        b.text_of(&format!("{row} td[data-col=\"value\"]"))
            .expect("the desired value"),
        "26.5"
    );
    text_when(
        &b,
        &format!("#reported tr[data-path=\"{SETPOINT}\"] td[data-col=\"value\"]"),
        |t| t == "26.5",
    );
    let reports = watcher.collect(&format!("vehicle/{vin}/telemetry"), WAIT, |seen| {
        seen.iter().any(|t| t["signals"][SETPOINT] == 26.5)
    });
    assert!(
        reports.iter().any(|t| t["signals"][SETPOINT] == 26.5),
        "the car never reported the setpoint on MQTT; last: {:?}",
        reports.last()
    );
    let doc = rig.twin.doc(vin).expect("the document");
    assert_eq!(doc["reported"][SETPOINT]["value"], 26.5, "{doc}");

    // The chart of Vehicle.Speed (chosen by default) over five minutes.
    b.click(
        &b.find("#chart-range option[value=\"300000\"]")
            .expect("the five-minute range"),
    )
    .expect("choosing the range");
    b.click(&b.find("#chart-draw").expect("the Draw button"))
        .expect("drawing");
    let line = "#charts figure[data-signal=\"Vehicle.Speed\"] svg path.line";
    let (points, d) = b.wait(WAIT, "a chart line of at least two points", |b| {
        let el = b.find(line)?;
        let points: u64 = b
            .attribute(&el, "data-points")?
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let d = b.attribute(&el, "d")?.unwrap_or_default();
        Ok((points >= 2).then_some((points, d)))
    });
    assert_eq!(
        d.matches(['M', 'L']).count() as u64,
        points,
        "one path command per point: {d}"
    );
    let status = b.text_of("#chart-status").expect("the chart status");
    assert!(status.starts_with("buckets of 1 s"), "{status}");
    assert_eq!(
        b.text_of("#status").expect("the status line"),
        "",
        "the page reports a problem"
    );
}

#[test]
fn a_setpoint_made_against_a_desired_version_changed_meanwhile_shows_the_412_and_the_current_state_then_goes_through()
 {
    if !webdriver::available_or_skip() {
        return;
    }
    // No tokens here: the page works without one.
    let rig = Rig::start("", &[], None);
    let vin = VINS[1];
    let b = Browser::start();
    // The page must not learn of the other change: its streams are held
    // in the browser and never reach the twin.
    b.cdp(
        "Fetch.enable",
        json!({"patterns": [{"urlPattern": "*/stream*", "requestStage": "Request"}]}),
    )
    .expect("holding the event streams");
    b.goto(&format!("{}/vehicle.html?vin={vin}", rig.twin.url));
    text_when(&b, "#vin", |t| t == vin);
    b.wait(WAIT, "a document version", shown_version);
    assert_eq!(
        b.text_of("#stream-state").expect("the stream state"),
        "connecting"
    );

    // Someone else changes desired state through the API.
    let r = rig.twin.patch(vin, &json!({FAN: 60}), None);
    assert_eq!(r.status, 200, "{}", r.body);
    set(&b, FAN, "70");
    let message = text_when(&b, "#setpoint-message", |t| t.starts_with("412"));
    assert!(message.contains("If-Match"), "{message}");
    let el = b.find("#setpoint-message").expect("the message");
    assert_eq!(
        b.attribute(&el, "data-status")
            .expect("its status")
            .as_deref(),
        Some("412")
    );
    // The page now shows the other change and its version.
    text_when(
        &b,
        &format!("#desired tr[data-path=\"{FAN}\"] td[data-col=\"value\"]"),
        |t| t == "60",
    );
    assert_eq!(
        rig.twin.doc(vin).expect("the document")["desired"][FAN]["value"],
        60,
        "the refused patch changed nothing"
    );

    set(&b, FAN, "70");
    text_when(&b, "#setpoint-message", |t| t.starts_with(FAN));
    let el = b.find("#setpoint-message").expect("the message");
    assert_eq!(
        b.attribute(&el, "data-kind").expect("its kind").as_deref(),
        Some("ok")
    );
    rig.twin
        .wait_doc(vin, WAIT, "the page's setpoint applied", |d| {
            d["desired"][FAN]["value"] == 70 && d["desired"][FAN]["state"] == "applied"
        });
}
