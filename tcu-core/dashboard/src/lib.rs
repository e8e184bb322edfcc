//! The terminal dashboard of `tcu run`: drive the car with the keyboard and
//! watch every subsystem, the MQTT link, OTA and the plugins live.
//!
//! Threads: the tick loop ([`sim::run`]) stays on the calling thread and is
//! the same loop headless runs use; the dashboard only attaches two tick
//! hooks (the [`ControlInbox`](tcu_engine::control::ControlInbox) that applies
//! queued control messages, and a [`SnapshotHook`] that copies what the
//! panels show into [`Shared`] with `try_lock`, never waiting). A render
//! thread named `dashboard` owns the terminal, reads keys and draws about 30
//! frames a second from the latest snapshot; a slow terminal therefore slows
//! the frames, never the simulation.
//!
//! Controls: every change to the vehicle is a
//! [`ControlMsg`](tcu_engine::control::ControlMsg) on the same control path MQTT
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
//!
//! Ways out, each of which stops the tick loop, ends the render thread and
//! gives the terminal back (normal screen, cursor shown, raw mode off):
//! - `q` or Ctrl-C, or the duration ending: [`run`] returns the outcome;
//! - SIGTERM, SIGINT or SIGHUP set the stop flag (the binary's handler); the
//!   render loop sees it within a frame and returns the outcome, unless the
//!   terminal itself has hung up;
//! - the terminal going away (window closed, tmux server killed, SSH link
//!   dropped): the render loop waits on the terminal with poll(2) (see
//!   [`tty`]), so a hangup, or an EIO from reading or drawing, ends it with
//!   [`Error::TerminalGone`] instead of a spin;
//! - a second signal while the stop is under way: the binary exits at once,
//!   and gives the terminal back first with [`restore_terminal_before_exit`]
//!   ([`STALL_AFTER_FRAMES_ENV`] holds the render thread, for the test);
//! - a panic: the panic hook restores the terminal before the message is
//!   printed; on the render thread, [`run`] returns [`Error::Panicked`].
//!   [`PANIC_AFTER_FRAMES_ENV`] provokes one, for the end-to-end test.
//!
//! Should the render thread fail to end within [`JOIN_GRACE`] of the stop,
//! [`run`] restores the terminal and returns [`Error::Unresponsive`] without
//! it, so the process can still exit.

pub mod clock;
pub mod input;
mod log;
pub mod snapshot;
mod terminal;
mod tty;
pub mod view;

#[cfg(test)]
mod tests;

pub use clock::{ClockControl, ControlledClock};
pub use input::{Request, RequestHandler};
pub use log::LogSink;
pub use snapshot::{LinkState, OtaState, Shared, Snapshot, SnapshotHook};
pub use terminal::restore_before_exit as restore_terminal_before_exit;

use crossterm::event::{self, Event as TermEvent};
use input::{Controller, action_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tcu_engine::control::{self, ControlHandle};
use tcu_engine::sim::clock::RealClock;
use tcu_engine::sim::{self, Hooks, RunOutcome, RunSettings, Vehicle};
use tty::Wait;
use view::View;

/// Time between frames (about 30 frames per second).
const FRAME: Duration = Duration::from_millis(33);

/// How long the end of a run waits for the render thread, which sees the
/// stop flag within a frame.
const JOIN_GRACE: Duration = Duration::from_secs(2);

/// Set to a number N, the render thread panics after drawing N frames: the
/// way the restoration of the terminal on a panic is tested end to end.
pub const PANIC_AFTER_FRAMES_ENV: &str = "TCU_DASHBOARD_PANIC_AFTER_FRAMES";

/// Set to a number N, the render thread stops after drawing N frames and
/// never returns (holding the terminal, blind to the stop flag), as one
/// blocked on a terminal that stopped reading would: the way a forced exit
/// is tested to give the terminal back all the same.
pub const STALL_AFTER_FRAMES_ENV: &str = "TCU_DASHBOARD_STALL_AFTER_FRAMES";

/// The render thread's injected faults (tests of the ways out).
#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    panic_after: Option<u64>,
    stall_after: Option<u64>,
}

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
    /// The render thread could not be started.
    #[error("starting the dashboard's render thread: {0}")]
    Spawn(std::io::Error),
    /// The terminal could not be set up, read or written.
    #[error("terminal: {doing}: {source}")]
    Terminal {
        /// What was being done.
        doing: &'static str,
        /// Cause.
        source: std::io::Error,
    },
    /// The terminal hung up (its window, tmux server or SSH connection went
    /// away); the simulation was stopped.
    #[error("the dashboard's terminal went away ({0}); the simulation was stopped")]
    TerminalGone(String),
    /// The render thread panicked (the terminal has been restored).
    #[error("the dashboard's render thread panicked (the terminal has been restored)")]
    Panicked,
    /// The render thread did not end after the simulation stopped; the
    /// terminal was restored without it.
    #[error(
        "the dashboard's render thread did not stop within {0:?} of the simulation; \
         left behind (the terminal was restored)"
    )]
    Unresponsive(Duration),
}

impl Error {
    /// An I/O error of the terminal while `doing`: [`Error::TerminalGone`]
    /// if the terminal hung up (or the error is the EIO a hung-up terminal
    /// gives), [`Error::Terminal`] otherwise.
    fn io(doing: &'static str, source: std::io::Error, input: Option<&tty::Input>) -> Self {
        let hung_up =
            source.raw_os_error() == Some(libc::EIO) || input.is_some_and(tty::Input::is_gone);
        if hung_up {
            Self::TerminalGone(format!("{doing}: {source}"))
        } else {
            Self::Terminal { doing, source }
        }
    }
}

/// Runs `vehicle` in real time with the dashboard until quit, `stop` is set
/// (SIGTERM, SIGINT, SIGHUP), the duration ends or the terminal goes away.
/// The terminal is restored on every way out, and the tick loop stopped.
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
    let faults = Faults {
        panic_after: frames_from_env(PANIC_AFTER_FRAMES_ENV),
        stall_after: frames_from_env(STALL_AFTER_FRAMES_ENV),
    };
    let ui = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || render_loop(&shared, controller, &clock_ctl, &stop, faults))
            .map_err(Error::Spawn)?
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
    // A duration ending the run also ends the render loop, within a frame.
    stop.store(true, Ordering::Relaxed);
    // If it does not end, it is stuck where it cannot see the flag (inside
    // crossterm, see [`tty`]); the process must exit all the same.
    let until = Instant::now() + JOIN_GRACE;
    while !ui.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !ui.is_finished() {
        terminal::restore();
        return Err(Error::Unresponsive(JOIN_GRACE));
    }
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
    faults: Faults,
) -> Result<(), Error> {
    let _stop = StopOnDrop(stop);
    let input = tty::Input::open().map_err(|source| Error::Terminal {
        doing: "opening the terminal's input",
        source,
    })?;
    let (mut term, _restore) = terminal::enter()
        .map_err(|e| Error::io("entering the dashboard's screen", e, Some(&input)))?;
    let result = frames_until_done(
        &mut term,
        &input,
        shared,
        &mut controller,
        clock,
        stop,
        faults,
    );
    // ratatui shows the cursor again when its terminal is dropped and
    // `eprintln!`s a failure, which panics when stderr is the same dead
    // terminal: show it here, and if that fails there is no terminal left to
    // restore, so skip the drop.
    if term.show_cursor().is_err() {
        std::mem::forget(term);
    }
    result
}

/// Draws frames and handles input until quit, stop or a terminal error.
fn frames_until_done(
    term: &mut terminal::Term,
    input: &tty::Input,
    shared: &Shared,
    controller: &mut Controller,
    clock: &ClockControl,
    stop: &AtomicBool,
    faults: Faults,
) -> Result<(), Error> {
    let mut fps = 0.0;
    let (mut frames, mut since, mut drawn) = (0u32, Instant::now(), 0u64);
    while !stop.load(Ordering::Relaxed) && terminal::is_active() {
        let started = Instant::now();
        let mut view = View::new(shared.frame());
        view.seat = controller.seat;
        view.zone = controller.zone;
        view.dtc_fault = controller
            .dtc_faults
            .get(controller.dtc_fault)
            .map(|f| (f.code.clone(), f.subsystem.clone(), f.fault.clone()));
        view.help = controller.help;
        view.paused = clock.is_paused();
        view.speed = clock.speed();
        view.fps = fps;
        term.draw(|f| f.render_widget(&view, f.area()))
            .map_err(|e| Error::io("drawing a frame", e, Some(input)))?;
        drawn += 1;
        if faults.panic_after.is_some_and(|n| drawn >= n) {
            panic!(
                "{PANIC_AFTER_FRAMES_ENV}: deliberate panic on the render thread after {drawn} frames"
            );
        }
        if faults.stall_after.is_some_and(|n| drawn >= n) {
            loop {
                std::thread::park();
            }
        }
        frames += 1;
        if since.elapsed() >= Duration::from_secs(1) {
            fps = f64::from(frames) / since.elapsed().as_secs_f64();
            (frames, since) = (0, Instant::now());
        }
        // Sleep in poll(2) until the next frame is due or input arrives (a
        // late frame only looks); a key, a resize or a signal redraws at
        // once so the screen answers without waiting.
        let due = started + FRAME;
        let left = due.saturating_duration_since(Instant::now());
        match input
            .wait(left)
            .map_err(|e| Error::io("waiting for input", e, None))?
        {
            Wait::Timeout => {}
            Wait::Gone => return Err(Error::TerminalGone("hangup on its input".into())),
            Wait::Ready => match read_keys(controller, &view.snap, input)? {
                Keys::Quit => return Ok(()),
                Keys::Redraw => {}
                // Bytes crossterm keeps for later (part of a sequence, or
                // more than it reads at once): waiting on them again would
                // return at once, so rest until the frame is due.
                Keys::Nothing => std::thread::sleep(due.saturating_duration_since(Instant::now())),
            },
        }
    }
    // SIGHUP sets the stop flag just as SIGTERM does: a hangup is told
    // apart by the terminal itself.
    if input.is_gone() {
        return Err(Error::TerminalGone("hangup".into()));
    }
    Ok(())
}

/// What a batch of input asked for.
enum Keys {
    Quit,
    Redraw,
    Nothing,
}

/// Handles every event crossterm has ready: one read of the terminal may
/// hold several keys, and none of them may wait for the next keystroke.
fn read_keys(
    controller: &mut Controller,
    snap: &Snapshot,
    input: &tty::Input,
) -> Result<Keys, Error> {
    let mut redraw = false;
    while event::poll(Duration::ZERO).map_err(|e| Error::io("reading input", e, Some(input)))? {
        match event::read().map_err(|e| Error::io("reading input", e, Some(input)))? {
            TermEvent::Key(key) => {
                if let Some(action) = action_for(key) {
                    if !controller.handle(action, snap) {
                        return Ok(Keys::Quit);
                    }
                    redraw = true;
                }
            }
            TermEvent::Resize(..) => redraw = true,
            _ => {}
        }
    }
    Ok(if redraw { Keys::Redraw } else { Keys::Nothing })
}

/// The frame count of the variable `name` ([`PANIC_AFTER_FRAMES_ENV`],
/// [`STALL_AFTER_FRAMES_ENV`]), if set.
fn frames_from_env(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!("{name}={value:?} ignored: {e}");
            None
        }
    }
}
