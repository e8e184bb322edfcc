//! The terminal dashboard of `tcu run`: drive the car with the keyboard and
//! watch every subsystem, the MQTT link, OTA and the plugins live.
//!
//! Threads: the tick loop ([`sim::run`]) stays on the calling thread and is
//! the same loop headless runs use; the dashboard only attaches two tick
//! hooks (the [`ControlInbox`](crate::control::ControlInbox) that applies
//! queued control messages, and a [`SnapshotHook`] that copies what the
//! panels show into [`Shared`] with `try_lock`, never waiting). A render
//! thread named `dashboard` owns the terminal, reads keys and draws about 30
//! frames a second from the latest snapshot; a slow terminal therefore slows
//! the frames, never the simulation.
//!
//! Controls: every change to the vehicle is a
//! [`ControlMsg`](crate::control::ControlMsg) on the same control path MQTT
//! commands and scenario steps use (see [`input`]). Pause, single step and
//! speed-up act on a [`ControlledClock`] wrapped around the real clock, so the
//! tick loop itself is unchanged.
//!
//! Driver: the dashboard starts with the configured driver profile (the demo
//! cycle by default, so a fresh `tcu run` shows the car moving; `--driver
//! idle` starts parked). The first throttle, brake or release key takes the
//! car over: the snapshot hook switches the profile to idle before the next
//! tick, and from then on only the keys move the pedals.
//!
//! Tracing: while the dashboard owns the terminal, log lines must not reach
//! the screen; the binary installs its subscriber with a [`LogSink`] writer,
//! and the lines appear in the event-log panel.
//!
//! Feeding the link, OTA and plugin panels (for the MQTT, OTA and hot-swap
//! features):
//! - link: call [`Shared::update_link`] with a [`LinkState`] whenever it
//!   changes (e.g. once a second from the telemetry side);
//! - OTA: call [`Shared::update_ota`] with an [`OtaState`];
//! - plugins: names and versions are read from `vehicle.plugins()` after
//!   every tick; swap history comes from vehicle events of kind
//!   `plugin.swapped`, `plugin.rollback` and `plugin.rejected`, so raising
//!   those events is all a hot-swap needs to do;
//! - the `L` (reload plugins) and `U` (poll OTA now) keys call
//!   [`Options::requests`]; unset, they log "not configured".
//!
//! [`Options::on_start`] hands out the [`Shared`] state before the first
//! tick so those owners can keep a clone.

pub mod clock;
pub mod input;
mod log;
mod panels;
mod panels_sys;
pub mod snapshot;
mod terminal;
pub mod view;

#[cfg(test)]
mod tests;

pub use clock::{ClockControl, ControlledClock};
pub use input::{Request, RequestHandler};
pub use log::LogSink;
pub use snapshot::{LinkState, OtaState, Shared, Snapshot, SnapshotHook};

use crate::control::{self, ControlHandle};
use crate::sim::clock::RealClock;
use crate::sim::{self, Hooks, RunOutcome, RunSettings, Vehicle};
use crossterm::event::{self, Event as TermEvent};
use input::{Controller, action_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use view::View;

/// Time between frames (about 30 frames per second).
const FRAME: Duration = Duration::from_millis(33);

/// Called once before the first tick with the shared state and the control
/// handle.
pub type OnStart = Box<dyn FnOnce(&Arc<Shared>, &ControlHandle) + Send>;

/// What the dashboard is given besides the vehicle.
#[derive(Default)]
pub struct Options {
    /// Stop after this much simulated time.
    pub duration: Option<Duration>,
    /// Where tracing lines were sent, to show them in the event log.
    pub log: Option<LogSink>,
    /// Handles the reload-plugins and poll-OTA keys.
    pub requests: Option<RequestHandler>,
    /// Called with the shared state and the control handle before the first
    /// tick (to report link/OTA state, or to drive the car from elsewhere).
    pub on_start: Option<OnStart>,
    /// The control channel to use (so that other producers, such as MQTT
    /// commands, share it); a new one when `None`.
    pub channel: Option<(ControlHandle, control::ControlInbox)>,
    /// More hooks to run after the dashboard's own (telemetry, OTA, ...).
    pub hooks: Vec<Box<dyn sim::TickHook>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("duration", &self.duration)
            .field("log", &self.log.is_some())
            .field("requests", &self.requests.is_some())
            .field("on_start", &self.on_start.is_some())
            .field("channel", &self.channel.is_some())
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

/// The dashboard failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The terminal could not be set up or written.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The render thread panicked (the terminal has been restored).
    #[error("the dashboard's render thread panicked")]
    Panicked,
}

/// Runs `vehicle` in real time with the dashboard until quit, `stop` is set
/// (SIGTERM, SIGINT) or the duration ends. The terminal is restored on every
/// way out.
pub fn run(
    vehicle: &mut Vehicle,
    vin: &str,
    stop: &Arc<AtomicBool>,
    options: Options,
) -> Result<RunOutcome, Error> {
    let shared = Arc::new(Shared::default());
    if let Some(sink) = &options.log {
        sink.attach(shared.clone());
    }
    let (control, mut inbox) = options.channel.unwrap_or_else(control::channel);
    let mut extra = options.hooks;
    if let Some(on_start) = options.on_start {
        on_start(&shared, &control);
    }
    let clock_ctl = Arc::new(ClockControl::new(stop.clone()));
    let mut clock = ControlledClock::new(RealClock::new(), clock_ctl.clone());
    let mut hook = SnapshotHook::new(vehicle, vin, shared.clone());
    let controller = Controller::new(control, clock_ctl.clone(), shared.clone(), options.requests);
    let ui = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || render_loop(&shared, controller, &clock_ctl, &stop))?
    };
    let settings = RunSettings {
        duration: options.duration,
    };
    let outcome = sim::run(
        vehicle,
        &mut clock,
        &settings,
        stop,
        &mut Hooks(
            [&mut inbox as &mut dyn sim::TickHook, &mut hook]
                .into_iter()
                .chain(
                    extra
                        .iter_mut()
                        .map(|h| h.as_mut() as &mut dyn sim::TickHook),
                )
                .collect(),
        ),
    );
    // A duration ending the run also ends the render loop.
    stop.store(true, Ordering::Relaxed);
    match ui.join() {
        Ok(result) => result.map(|()| outcome),
        Err(_) => Err(Error::Panicked),
    }
}

/// Sets the stop flag when dropped: however the render loop ends (quit,
/// terminal error, panic), the tick loop ends too.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn render_loop(
    shared: &Shared,
    mut controller: Controller,
    clock: &ClockControl,
    stop: &AtomicBool,
) -> Result<(), Error> {
    let _stop = StopOnDrop(stop);
    let (mut term, _restore) = terminal::enter()?;
    let mut fps = 0.0;
    let (mut frames, mut since) = (0u32, Instant::now());
    while !stop.load(Ordering::Relaxed) && terminal::is_active() {
        let started = Instant::now();
        let mut view = View::new(shared.frame());
        view.seat = controller.seat;
        view.zone = controller.zone;
        view.help = controller.help;
        view.paused = clock.is_paused();
        view.speed = clock.speed();
        view.fps = fps;
        term.draw(|f| f.render_widget(&view, f.area()))?;
        frames += 1;
        if since.elapsed() >= Duration::from_secs(1) {
            fps = f64::from(frames) / since.elapsed().as_secs_f64();
            (frames, since) = (0, Instant::now());
        }
        // Read input until the next frame is due; a key or a resize redraws
        // at once so the screen answers without waiting.
        let due = started + FRAME;
        while let Some(timeout) = due.checked_duration_since(Instant::now()) {
            if !event::poll(timeout)? {
                break;
            }
            match event::read()? {
                TermEvent::Key(key) => {
                    if let Some(action) = action_for(key) {
                        if !controller.handle(action, &view.snap) {
                            return Ok(());
                        }
                        break;
                    }
                }
                TermEvent::Resize(..) => break,
                _ => {}
            }
        }
    }
    Ok(())
}
