//! One frame: the [`View`] (a snapshot plus the dashboard's own state) and
//! the layout that places every panel. Rendering reads only the view, so a
//! frame is a pure function of it and is tested against a `TestBackend`.
//!
//! ```text
//! header
//! Driving | Battery | Motor   | ABS
//! Airbags | HVAC    | Heated seats | Environment
//! Speed chart | SOC chart | Power chart | Cabin chart
//! Event log              | Plugins | Link / OTA
//! ```
//!
//! Below [`MIN_WIDTH`] x [`MIN_HEIGHT`] the frame is a message asking for a
//! larger terminal instead of a mangled layout.

mod panels;
mod panels_sys;

use crate::snapshot::Snapshot;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// Smallest terminal the layout fits.
pub const MIN_WIDTH: u16 = 120;
/// Smallest terminal the layout fits.
pub const MIN_HEIGHT: u16 = 34;

/// Height of the two rows of vehicle panels.
const PANEL_ROW: u16 = 8;

/// Everything one frame shows.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The vehicle as of the last tick.
    pub snap: Snapshot,
    /// Selected seat.
    pub seat: usize,
    /// Selected HVAC zone.
    pub zone: usize,
    /// Help overlay shown.
    pub help: bool,
    /// Clock paused.
    pub paused: bool,
    /// Clock speed factor.
    pub speed: f64,
    /// Frames per second actually drawn.
    pub fps: f64,
    /// The diagnostic fault `d` injects or heals: (code, subsystem, name).
    /// The header lists the active DTCs and this fault after the fixed
    /// fields, so a narrow terminal cuts them last.
    pub dtc_fault: Option<(String, String, String)>,
}

impl View {
    /// A view of `snap`, with chart series made contiguous for drawing.
    pub fn new(mut snap: Snapshot) -> Self {
        for s in &mut snap.charts {
            s.make_contiguous();
        }
        Self {
            snap,
            speed: 1.0,
            ..Self::default()
        }
    }

    fn header(&self) -> Line<'static> {
        let s = &self.snap;
        Line::styled(
            format!(
                " TCU {}  t {:.2} s  clock x{} {}  faults {}  {:.0} fps   ? help  q quit   {}{}",
                s.vin,
                s.t,
                self.speed,
                if self.paused { "PAUSED" } else { "running" },
                s.faults,
                self.fps,
                self.dtc_text(),
                self.dtc_fault
                    .as_ref()
                    .map(|(code, _, name)| format!("  d: {code} {name}"))
                    .unwrap_or_default(),
            ),
            Style::default().add_modifier(Modifier::REVERSED),
        )
    }

    /// The active DTCs as the header shows them: `DTC 2: C0035 P0A7E`.
    pub fn dtc_text(&self) -> String {
        let codes: Vec<&str> = self.snap.dtcs.iter().map(|(c, _)| c.as_str()).collect();
        if codes.is_empty() {
            "DTC none".to_owned()
        } else {
            format!("DTC {}: {}", codes.len(), codes.join(" "))
        }
    }
}

/// The message shown when the terminal is smaller than the layout.
pub fn too_small(area: Rect, buf: &mut Buffer) {
    let text = format!(
        "Terminal too small: {}x{}, the dashboard needs at least {MIN_WIDTH}x{MIN_HEIGHT}.\n\
         Enlarge the window, or press q to quit (tcu run --headless needs no terminal).",
        area.width, area.height
    );
    let y = area.height / 2;
    let r = Rect {
        y: area.y + y.saturating_sub(1),
        height: area.height - y.saturating_sub(1),
        ..area
    };
    Paragraph::new(text)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(r, buf);
}

impl Widget for &View {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            too_small(area, buf);
            return;
        }
        let [header, row_a, row_b, charts, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(PANEL_ROW),
            Constraint::Length(PANEL_ROW),
            Constraint::Fill(1),
            Constraint::Fill(1),
        ])
        .areas(area);
        self.header().render(header, buf);
        let quarters = Layout::horizontal([Constraint::Ratio(1, 4); 4]);
        let [a, b, c, d] = quarters.areas(row_a);
        panels::driving(self).render(a, buf);
        panels::battery(self).render(b, buf);
        panels::engine(self).render(c, buf);
        panels::abs(self).render(d, buf);
        let [a, b, c, d] = quarters.areas(row_b);
        panels::airbag(self).render(a, buf);
        panels::hvac(self).render(b, buf);
        panels::seats(self).render(c, buf);
        panels::environment(self).render(d, buf);
        panels_sys::charts(self, charts, buf);
        let [log, plugins, side] = Layout::horizontal([
            Constraint::Ratio(2, 4),
            Constraint::Ratio(1, 4),
            Constraint::Ratio(1, 4),
        ])
        .areas(bottom);
        panels_sys::event_log(self, log.height).render(log, buf);
        panels_sys::plugins(self, plugins.height).render(plugins, buf);
        let [link, ota] =
            Layout::vertical([Constraint::Length(7), Constraint::Fill(1)]).areas(side);
        panels_sys::link(self).render(link, buf);
        panels_sys::ota(self).render(ota, buf);
        if self.help {
            panels_sys::help(area, buf);
        }
    }
}
