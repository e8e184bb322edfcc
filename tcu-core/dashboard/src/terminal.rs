//! Taking over the terminal and giving it back: raw mode, the alternate
//! screen and a hidden cursor on entry; the opposite on every way out. The
//! render thread holds a [`Restore`] guard (normal exit, errors, unwinding
//! panics), a panic hook restores before the panic message is printed (so
//! the message is readable and a panic on the tick thread does not leave the
//! terminal raw), and SIGTERM/SIGINT/SIGHUP set the run's stop flag, which
//! ends the render loop and so drops the guard. Restoring a terminal that
//! has gone away fails quietly: there is nothing left to restore. A forced
//! exit (a second signal) restores through [`restore_before_exit`] first.

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{self, Stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// The dashboard's terminal.
pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// True while the dashboard owns the terminal.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Restores the terminal when dropped.
#[derive(Debug)]
pub struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

/// Switches the terminal to the dashboard's mode; restore it with
/// [`restore`] or by dropping the returned guard.
pub fn enter() -> io::Result<(Term, Restore)> {
    install_panic_hook();
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = Restore;
    execute!(io::stdout(), EnterAlternateScreen, Hide)?;
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    term.clear()?;
    Ok((term, guard))
}

/// Leaves the dashboard's mode; does nothing if it is not active, so it is
/// safe to call from several places.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}

/// Longest wait of [`restore_before_exit`] for the terminal.
const EXIT_RESTORE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Gives the terminal back for a process about to exit without the render
/// thread's help (a forced exit on a second signal), from whatever thread
/// asks. The restoring thread takes standard output's lock and keeps it
/// until the process is gone, so the render thread cannot draw a frame onto
/// the restored screen; a render thread stuck inside a write holds that lock
/// itself, and then the terminal (frozen anyway) is left after
/// [`EXIT_RESTORE_WAIT`] rather than keeping the process alive.
pub fn restore_before_exit() {
    if !is_active() {
        return;
    }
    let (done, restored) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("restore-terminal".into())
        .spawn(move || {
            let out = io::stdout();
            let _held = out.lock();
            // Re-entered on this thread: restore writes through the same lock.
            restore();
            let _ = done.send(());
            loop {
                std::thread::park();
            }
        });
    if spawned.is_ok() {
        let _ = restored.recv_timeout(EXIT_RESTORE_WAIT);
    }
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// True while the dashboard owns the terminal (a panic hook may have given it
/// back while the render thread still runs; it must not draw then).
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}
