use super::*;
use crate::bus::Bus;
use crate::catalog::Catalog;
use crate::world::World;
use crate::world::driver::DriverProfile;
use std::sync::Mutex;

/// A vehicle of the world model alone, at 100 Hz.
fn vehicle() -> Vehicle {
    let catalog = Arc::new(Catalog::builtin());
    let mut bus = Bus::new(catalog);
    let world = World::new(&mut bus, Default::default(), 1).expect("world");
    Vehicle::new(bus, world, Vec::new(), DriverProfile::Idle, 100.0)
}

fn rule(text: &str, before: f64, after: f64) -> CaptureRule {
    CaptureRule::parse(text, before, after, &Catalog::builtin()).expect("rule")
}

fn event(kind: &str) -> Event {
    Event {
        t: 0.0,
        kind: kind.into(),
        detail: String::new(),
        fields: Default::default(),
    }
}

/// Steps `v` `n` times through `c`, raising `fire` on the first tick.
fn run(v: &mut Vehicle, c: &mut Capturer, n: usize, fire: &[&str]) {
    for i in 0..n {
        c.before_tick(v);
        v.step();
        let mut events = v.drain_events();
        if i == 0 {
            events.extend(fire.iter().map(|k| event(k)));
        }
        c.after_tick(v, &events);
    }
}

#[derive(Debug, Default)]
struct Collect(Mutex<Vec<(String, u64, f64, String)>>);

impl CaptureSink for Collect {
    fn publish(&self, c: &Captured<'_>) {
        self.0.lock().expect("lock").push((
            c.rule.to_owned(),
            c.trigger_tick,
            c.trigger_t,
            c.text.to_owned(),
        ));
    }
}

#[test]
fn set_rules_resizes_the_ring_to_the_longest_window_and_no_rules_keep_no_rows() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut v = vehicle();
    let mut c = Capturer::new(dir.path(), vec![rule("a.x", 1.0, 0.5)], &v, "V", 1).expect("c");
    assert_eq!(c.ring_rows(), 151);
    run(&mut v, &mut c, 200, &[]);
    assert_eq!(c.ring.len(), 151);
    c.set_rules(vec![rule("a.x", 1.0, 0.5), rule("b.x", 2.0, 1.0)], &v);
    assert_eq!(c.ring_rows(), 301);
    run(&mut v, &mut c, 400, &[]);
    assert_eq!(c.ring.len(), 301);
    c.set_rules(vec![rule("a.x", 0.1, 0.0)], &v);
    assert_eq!((c.ring_rows(), c.ring.len()), (11, 11));
    c.set_rules(Vec::new(), &v);
    assert_eq!((c.ring_rows(), c.ring.len()), (0, 0));
    run(&mut v, &mut c, 50, &["a.x"]);
    assert_eq!(c.ring.len(), 0, "no rule: no row is copied");
    assert!(c.finish().is_empty());
}

#[test]
fn set_rules_drops_the_pending_capture_of_a_removed_rule_and_keeps_a_kept_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut v = vehicle();
    let rules = vec![rule("a.x", 0.5, 1.0), rule("b.x", 0.5, 1.0)];
    let mut c = Capturer::new(dir.path(), rules, &v, "V", 1).expect("c");
    run(&mut v, &mut c, 60, &[]);
    run(&mut v, &mut c, 10, &["a.x", "b.x"]);
    // Both are collecting their "after" rows; b goes, a stays as it was.
    c.set_rules(vec![rule("a.x", 0.5, 1.0)], &v);
    run(&mut v, &mut c, 200, &[]);
    let files: Vec<String> = c
        .finish()
        .into_iter()
        .map(|r| {
            r.expect("written")
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(files, vec!["capture-0000000061-a.x.trace".to_owned()]);
}

#[test]
fn a_sink_gets_each_capture_with_its_trigger_and_the_very_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut v = vehicle();
    let sink = Arc::new(Collect::default());
    let mut c = Capturer::new(dir.path(), vec![rule("a.x", 0.2, 0.1)], &v, "V", 1)
        .expect("c")
        .with_sink(sink.clone());
    run(&mut v, &mut c, 50, &[]);
    run(&mut v, &mut c, 30, &["a.x"]);
    let path = c.finish().remove(0).expect("written");
    let got = sink.0.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    let (rule_text, tick, t, text) = &got[0];
    assert_eq!((rule_text.as_str(), *tick), ("a.x", 51));
    assert!((t - 0.51).abs() < 1e-9, "{t}");
    assert_eq!(text.as_bytes(), std::fs::read(&path).expect("file"));
}

#[test]
fn a_remote_request_with_a_bad_rule_changes_nothing_and_names_the_rule() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut v = vehicle();
    let (tx, rx) = mpsc::channel();
    let mut c = Capturer::new(dir.path(), vec![rule("a.x", 1.0, 1.0)], &v, "V", 1)
        .expect("c")
        .with_remote(rx);
    let (reply_tx, replies) = mpsc::channel();
    let spec = |rule: &str| RuleSpec {
        rule: rule.into(),
        before_s: 5.0,
        after_s: 3.0,
    };
    let reply = reply_tx.clone();
    tx.send(RulesRequest {
        rules: vec![spec("abs.engaged"), spec("Vehicle.Sped > 1")],
        reply: Some(Box::new(move |r| reply.send(r).expect("send"))),
    })
    .expect("send");
    c.before_tick(&mut v);
    let errors = replies.try_recv().expect("answered").expect_err("refused");
    assert_eq!(errors.keys().collect::<Vec<_>>(), vec!["capture_rules[1]"]);
    assert!(
        errors["capture_rules[1]"].contains("`Vehicle.Sped`"),
        "{errors:?}"
    );
    assert_eq!(c.rules(), vec![rule("a.x", 1.0, 1.0)]);
    assert!(v.drain_events().iter().all(|e| e.kind != "capture.rules"));

    tx.send(RulesRequest {
        rules: vec![spec("abs.engaged"), spec("Vehicle.Speed > 130")],
        reply: Some(Box::new(move |r| reply_tx.send(r).expect("send"))),
    })
    .expect("send");
    c.before_tick(&mut v);
    assert_eq!(replies.try_recv().expect("answered"), Ok(()));
    assert_eq!(
        c.rules(),
        vec![
            rule("abs.engaged", 5.0, 3.0),
            rule("Vehicle.Speed > 130", 5.0, 3.0)
        ]
    );
    assert_eq!(c.ring_rows(), 801);
    let events = v.drain_events();
    let e = events
        .iter()
        .find(|e| e.kind == "capture.rules")
        .expect("capture.rules event");
    assert_eq!(e.fields["count"], "2");
    let listed: serde_json::Value = serde_json::from_str(&e.fields["rules"]).expect("JSON");
    assert_eq!(
        listed,
        serde_json::json!([
            {"rule": "abs.engaged", "before": 5.0, "after": 3.0},
            {"rule": "Vehicle.Speed > 130", "before": 5.0, "after": 3.0}
        ])
    );
}
