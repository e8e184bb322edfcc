//! The system panels: charts of the last minutes, the MQTT link, OTA,
//! plugins with their swap history, the event log and the help overlay.
//! Link and OTA show "not configured" until their owners report state (see
//! [`Shared::update_link`](crate::snapshot::Shared::update_link)).

use super::View;
use super::panels::{bar, block, num};
use crate::input::KEYS;
use crate::snapshot::{CHART_WINDOW_S, CHARTS, Series};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Chart, Clear, Dataset, GraphType, Paragraph, Widget, Wrap};

/// The four charts side by side.
pub fn charts(v: &View, area: Rect, buf: &mut Buffer) {
    let cols = Layout::horizontal([Constraint::Ratio(1, 4); 4]).split(area);
    for ((series, (title, unit)), col) in v.snap.charts.iter().zip(CHARTS).zip(cols.iter()) {
        chart(series, title, unit, v.snap.t).render(*col, buf);
    }
}

fn chart<'a>(series: &'a Series, title: &str, unit: &str, t: f64) -> Chart<'a> {
    let now = series.back().map_or(f64::NAN, |(_, v)| *v);
    let (lo, hi) = series
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    let (lo, hi) = if lo.is_finite() {
        let pad = ((hi - lo) * 0.1).max(0.5);
        // A quantity that never went negative gets no negative axis.
        let floor = if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY };
        ((lo - pad).max(floor), hi + pad)
    } else {
        (0.0, 1.0)
    };
    let x0 = (t - CHART_WINDOW_S).max(0.0);
    let x1 = x0.max(t).max(x0 + 1.0);
    // `View::new` made the render side's copy of the deque contiguous, so
    // the first slice is all of it.
    let data: &[(f64, f64)] = series.as_slices().0;
    let dataset = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::default().fg(Color::Cyan))
        .data(data);
    Chart::new(vec![dataset])
        .block(block(format!("{title} {} {unit}", num(now, 0, 1))))
        .x_axis(Axis::default().bounds([x0, x1]))
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels([format!("{lo:.0}"), format!("{hi:.0}")]),
        )
}

/// Broker, connection, rate, outbox.
pub fn link(v: &View) -> Paragraph<'static> {
    let lines = match &v.snap.link {
        None => vec![Line::raw("not connected / not configured")],
        Some(l) => vec![
            Line::raw(format!("Broker    {}", l.broker)),
            Line::raw(format!(
                "State     {}",
                if l.connected {
                    "connected"
                } else {
                    "DISCONNECTED"
                }
            )),
            Line::raw(format!("Published {}", l.published)),
            Line::raw(format!("Rate      {:.1} msg/s", l.msgs_per_s)),
            Line::raw(format!("Outbox    {}", l.outbox_depth)),
        ],
    };
    Paragraph::new(lines).block(block("Link (MQTT)"))
}

/// OTA state, open action, progress, versions.
pub fn ota(v: &View) -> Paragraph<'static> {
    let lines = match &v.snap.ota {
        None => vec![Line::raw("not configured")],
        Some(o) => {
            let mut lines = vec![
                Line::raw(format!("State    {}", o.state)),
                Line::raw(format!(
                    "Action   {}",
                    o.action.as_deref().unwrap_or("none")
                )),
                Line::raw(format!(
                    "Progress {} {:>3.0} %",
                    bar(o.progress, 14),
                    o.progress.clamp(0.0, 1.0) * 100.0
                )),
            ];
            lines.extend(o.versions.iter().map(|s| Line::raw(format!("  {s}"))));
            lines
        }
    };
    Paragraph::new(lines).block(block("OTA"))
}

/// Loaded plugins, then the newest swap / rollback / rejection lines.
pub fn plugins(v: &View, height: u16) -> Paragraph<'static> {
    let s = &v.snap;
    let mut lines: Vec<Line<'static>> = if s.plugins.is_empty() {
        vec![Line::raw("no plugins loaded")]
    } else {
        s.plugins
            .iter()
            .map(|p| {
                let state = if p.ok { "ok" } else { "DISABLED" };
                Line::raw(format!("{:<13} {:<9} {state}", p.name, p.version))
            })
            .collect()
    };
    lines.push(Line::raw(format!("faults {}", s.faults)));
    let room = usize::from(height.saturating_sub(2)).saturating_sub(lines.len());
    if s.plugin_history.is_empty() {
        lines.push(Line::raw("no swaps yet"));
    } else {
        let skip = s.plugin_history.len().saturating_sub(room);
        lines.extend(
            s.plugin_history
                .iter()
                .skip(skip)
                .map(|l| Line::raw(l.clone())),
        );
    }
    Paragraph::new(lines).block(block("Plugins"))
}

/// The newest log lines that fit, newest at the bottom.
pub fn event_log(v: &View, height: u16) -> Paragraph<'static> {
    let room = usize::from(height.saturating_sub(2));
    let skip = v.snap.log.len().saturating_sub(room);
    let lines: Vec<Line<'static>> = v
        .snap
        .log
        .iter()
        .skip(skip)
        .map(|l| Line::raw(l.clone()))
        .collect();
    Paragraph::new(lines).block(block("Event log"))
}

/// The key list over the middle of `area`.
pub fn help(area: Rect, buf: &mut Buffer) {
    let h = (KEYS.len() as u16 + 2).min(area.height);
    let w = 76.min(area.width);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    Clear.render(r, buf);
    let lines: Vec<Line<'static>> = KEYS
        .iter()
        .map(|(k, what)| Line::raw(format!(" {k:<11} {what}")))
        .collect();
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(block("Keys (? or Esc to close)"))
        .render(r, buf);
}
