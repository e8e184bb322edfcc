//! `/metrics` in the Prometheus text format: ingest (messages, signal
//! updates, lag), vehicles by connectivity, losses, commands, the store
//! (size, queue, writes) and the broker link.

use crate::hub::Hub;
use std::fmt::Write;
use std::sync::atomic::Ordering;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// The metrics page.
pub fn render(hub: &Hub) -> String {
    let (stats, counts, loss, vehicles) = {
        let f = hub.fleet();
        (
            f.stats.clone(),
            f.connectivity_counts(),
            f.loss_totals(),
            f.len(),
        )
    };
    let w = &hub.writer.stats;
    let n = |x: u64| x as f64;
    let mut out = String::new();
    let m = &stats.messages;
    metric(
        &mut out,
        "twin_messages_received_total",
        "counter",
        "MQTT messages received, by topic.",
        &[
            ("topic=\"telemetry\"", n(m[0])),
            ("topic=\"events\"", n(m[1])),
            ("topic=\"status\"", n(m[2])),
            ("topic=\"cmd/res\"", n(m[3])),
            ("topic=\"captures\"", n(m[4])),
        ],
    );
    metric(
        &mut out,
        "twin_captures_complete_total",
        "counter",
        "Captures whose every chunk came and whose file hashes to its id.",
        &[("", n(stats.captures_complete))],
    );
    metric(
        &mut out,
        "twin_messages_ignored_total",
        "counter",
        "Messages outside the contract or of a malformed VIN.",
        &[("", n(stats.ignored + stats.bad_vins + stats.over_capacity))],
    );
    metric(
        &mut out,
        "twin_invalid_total",
        "counter",
        "Refused payloads and values.",
        &[("", n(stats.invalid))],
    );
    metric(
        &mut out,
        "twin_signal_updates_total",
        "counter",
        "Reported values applied to documents.",
        &[("", n(stats.signal_updates))],
    );
    let mean = if stats.lag_count > 0 {
        stats.lag_ms_sum as f64 / stats.lag_count as f64 / 1000.0
    } else {
        0.0
    };
    metric(
        &mut out,
        "twin_ingest_lag_seconds",
        "gauge",
        "Time from the vehicle's timestamp to ingest: the latest, and the mean.",
        &[
            ("stat=\"last\"", stats.lag_ms_last as f64 / 1000.0),
            ("stat=\"mean\"", mean),
        ],
    );
    metric(
        &mut out,
        "twin_vehicles",
        "gauge",
        "Vehicles by connectivity.",
        &[
            ("connectivity=\"online\"", n(counts[0])),
            ("connectivity=\"offline\"", n(counts[1])),
            ("connectivity=\"stale\"", n(counts[2])),
        ],
    );
    metric(
        &mut out,
        "twin_vehicles_total",
        "gauge",
        "Documents held.",
        &[("", vehicles as f64)],
    );
    metric(
        &mut out,
        "twin_telemetry_loss",
        "gauge",
        "Sequence accounting summed over the fleet.",
        &[
            ("kind=\"received\"", n(loss.received)),
            ("kind=\"gaps\"", n(loss.gaps)),
            ("kind=\"duplicates\"", n(loss.duplicates)),
            ("kind=\"reordered\"", n(loss.reordered)),
            ("kind=\"reported_dropped\"", n(loss.reported_dropped)),
            ("kind=\"silent_lost\"", n(loss.silent_lost)),
        ],
    );
    metric(
        &mut out,
        "twin_commands_sent_total",
        "counter",
        "Commands published.",
        &[("", n(stats.commands_sent))],
    );
    metric(
        &mut out,
        "twin_commands_unqueued_total",
        "counter",
        "Commands that could not be queued for the broker.",
        &[("", n(hub.publish_failures.load(Ordering::Relaxed)))],
    );
    metric(
        &mut out,
        "twin_store_bytes",
        "gauge",
        "Size of the store on disk.",
        &[("", n(hub.store.size_bytes()))],
    );
    metric(
        &mut out,
        "twin_store_queued_records",
        "gauge",
        "Records waiting for the writer.",
        &[("", n(w.queued.load(Ordering::Relaxed)))],
    );
    metric(
        &mut out,
        "twin_store_written_records_total",
        "counter",
        "Records written.",
        &[("", n(w.written.load(Ordering::Relaxed)))],
    );
    metric(
        &mut out,
        "twin_store_failed_batches_total",
        "counter",
        "Batches that could not be written.",
        &[("", n(w.failed.load(Ordering::Relaxed)))],
    );
    metric(
        &mut out,
        "twin_mqtt_up",
        "gauge",
        "1 while the broker connection is up.",
        &[(
            "",
            if hub.mqtt_up.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            },
        )],
    );
    metric(
        &mut out,
        "twin_event_streams",
        "gauge",
        "Open event streams.",
        &[("", n(hub.streams.load(Ordering::Relaxed)))],
    );
    out
}
