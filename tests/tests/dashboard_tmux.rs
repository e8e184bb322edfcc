//! The dashboard in a real terminal: `tcu run` inside a detached tmux session
//! of a fixed size, driven with `send-keys` and read with `capture-pane`.
//! Drives off, seats a passenger and crashes, turns up a seat heater, opens
//! and closes the help, quits, and checks the terminal was given back; the
//! same after SIGTERM, after a second signal forcing the exit while the
//! render thread is stuck, and after a panic of the render thread (the shell
//! behind the dashboard must get a usable terminal: normal screen, cursor
//! shown, typed text echoed and lines read); and when the terminal itself
//! goes away (the tmux server killed), `tcu` must exit on its own; and `U`
//! makes the OTA client poll at once although the server asked for an hour.
//!
//! Every wait is bounded; the tmux server (on a socket of its own) is killed
//! when the test ends, passed or not, and a `tcu` still running then is
//! killed by its PID. tmux is required: `scripts/test` installs it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tcu_integration_tests::ddi_fake::DdiFake;
use tcu_integration_tests::fixtures;

const WIDTH: u16 = 160;
const HEIGHT: u16 = 50;

/// A tmux server of our own, killed on drop (and its socket file removed,
/// which tmux leaves behind).
struct Tmux {
    socket: String,
    socket_path: Option<std::path::PathBuf>,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut tmux = Self {
            socket: format!("tcu-dash-{}-{nanos}", std::process::id()),
            socket_path: None,
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            &WIDTH.to_string(),
            "-y",
            &HEIGHT.to_string(),
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = tmux.display("#{socket_path}");
        tmux.socket_path = (!path.is_empty()).then(|| path.into());
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap_or_else(|e| panic!("running tmux (scripts/test installs it): {e}"))
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p"]).stdout).into_owned()
    }

    /// Sends keys literally (`w`, `?`), one `send-keys` each.
    fn keys(&self, keys: &str) {
        for k in keys.chars() {
            let k = k.to_string();
            assert!(self.run(&["send-keys", "-l", &k]).status.success());
        }
    }

    fn display(&self, format: &str) -> String {
        let out = self.run(&["display-message", "-p", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Polls the screen until `ok` holds, up to `secs`; panics with the last
    /// screen otherwise.
    fn wait_for(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < until,
                "timed out after {secs}s waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Tmux {
    /// The `tcu` the pane's shell (`sh -c COMMAND`) started: its only child.
    fn tcu(&self) -> Process {
        let shell = self.display("#{pane_pid}");
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_else(|e| panic!("reading the children of the pane's shell {shell}: {e}"));
        let pid = children
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("the pane's shell {shell} has no child: tcu is not running"));
        let pid = pid.parse().expect("a PID is a number");
        let tcu = Process::new(pid).unwrap_or_else(|| panic!("tcu (pid {pid}) already gone"));
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_eq!(
            comm.trim(),
            "tcu",
            "the pane's shell runs {comm:?}, not tcu"
        );
        tcu
    }

    /// After `tcu` has exited, checks that the shell behind it has a
    /// usable terminal: the normal screen (no dashboard left on it), the
    /// cursor shown, and cooked mode (typed text is echoed and a line is
    /// read on Enter; in raw mode neither happens). The command must go on
    /// with `read -r line; echo "read=[$line]"`.
    fn assert_terminal_given_back(&self) {
        assert_eq!(
            self.display("#{alternate_on}"),
            "0",
            "alternate screen left on"
        );
        assert_eq!(self.display("#{cursor_flag}"), "1", "cursor left hidden");
        let screen = self.screen();
        assert!(
            !screen.contains("Vehicle speed"),
            "dashboard left on screen:\n{screen}"
        );
        assert!(
            self.run(&["send-keys", "-l", "typed text"])
                .status
                .success()
                && self.run(&["send-keys", "Enter"]).status.success()
        );
        self.wait_for("the typed line to be echoed and read", 10, |s| {
            s.lines().any(|l| l.trim_end() == "typed text") && s.contains("read=[typed text]")
        });
    }
}

/// A process the test started (identified by PID and start time, so a
/// reused PID is never taken for it); killed with SIGKILL on drop if it is
/// still running.
struct Process {
    pid: u32,
    start: u64,
}

impl Process {
    fn new(pid: u32) -> Option<Self> {
        let start = start_time(pid)?;
        Some(Self { pid, start })
    }

    /// Still running (not exited, not a zombie, PID not reused).
    fn is_running(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }

    /// Waits up to `secs` for the process to exit; true if it did.
    fn exits_within(&self, secs: u64) -> bool {
        let until = Instant::now() + Duration::from_secs(secs);
        while self.is_running() {
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid.to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running kill {signal} {}: {e}", self.pid));
        assert!(status.success(), "kill {signal} {}: {status}", self.pid);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}

/// The start time of a live, non-zombie process (field 22 of
/// `/proc/PID/stat`), `None` once it has exited.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields are counted
    // after its closing parenthesis (field 3, the state, comes first).
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    if matches!(fields.first(), Some(&("Z" | "X"))) {
        return None;
    }
    fields.get(22 - 3)?.parse().ok()
}

/// The `tcu` binary the tests run (built with the workspace's plugins).
fn tcu_exe() -> std::path::PathBuf {
    let exe = fixtures::workspace_plugins_dir().join("tcu");
    assert!(exe.is_file(), "{} missing", exe.display());
    exe
}

/// Polls for `path` to hold a line, up to `secs`.
fn wait_for_file(path: &Path, secs: u64) -> String {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(
            Instant::now() < until,
            "timed out after {secs}s waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The number after `label` on the first line that has it.
fn number_after(screen: &str, label: &str) -> Option<f64> {
    let line = screen.lines().find(|l| l.contains(label))?;
    let rest = &line[line.find(label)? + label.len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-'))
        .collect();
    num.parse().ok()
}

/// A number of the header line: `t 12.34 s` (`key` = "t") or `30 fps`
/// (`key` = "fps").
fn header_number(screen: &str, key: &str) -> Option<f64> {
    let words: Vec<&str> = screen.lines().next()?.split_whitespace().collect();
    let i = words.iter().position(|w| *w == key)?;
    let word = if key == "t" {
        words.get(i + 1)?
    } else {
        words.get(i.checked_sub(1)?)?
    };
    word.parse().ok()
}

fn speed(screen: &str) -> f64 {
    number_after(screen, "Vehicle speed").unwrap_or(f64::NAN)
}

/// The airbag panel's line of a seat. The panel is the first of four columns
/// of its row, so only that column is searched.
fn airbag_line(screen: &str, seat: &str) -> String {
    let column = usize::from(WIDTH / 4);
    screen
        .lines()
        .map(|l| l.chars().take(column).collect::<String>())
        .find(|l| {
            l.contains(&format!("{seat} ")) && (l.contains(" ready") || l.contains("DEPLOYED"))
        })
        .unwrap_or_default()
}

#[test]
fn drive_crash_heat_help_quit_in_a_real_terminal() {
    let command = format!(
        "'{}' run --driver idle --seed 7; echo tcu-exit=$?; sleep 600",
        tcu_exe().display()
    );
    let tmux = Tmux::start(&command);

    let screen = tmux.wait_for("the dashboard", 30, |s| {
        s.contains("Vehicle speed") && s.contains("battery")
    });
    let _tcu = tmux.tcu();
    assert!(speed(&screen) < 0.5, "parked at start:\n{screen}");
    assert_eq!(tmux.display("#{alternate_on}"), "1");

    // At least 20 frames a second (the header shows the measured rate).
    tmux.wait_for("20 fps or more", 10, |s| {
        header_number(s, "fps").is_some_and(|fps| fps >= 20.0)
    });

    // Pause: simulated time stands still; a single step moves it one tick.
    tmux.keys("p");
    tmux.wait_for("the clock to pause", 10, |s| s.contains("PAUSED"));
    // A tick under way when the key arrived may still land; then nothing.
    std::thread::sleep(Duration::from_millis(300));
    let t0 = header_number(&tmux.screen(), "t").expect("time in header");
    std::thread::sleep(Duration::from_millis(500));
    let t1 = header_number(&tmux.screen(), "t");
    assert_eq!(t1, Some(t0), "time moved while paused");
    tmux.keys("n");
    tmux.wait_for("one tick", 10, |s| {
        header_number(s, "t").is_some_and(|t| (t - t0 - 0.01).abs() < 1e-6)
    });
    tmux.keys("p");
    tmux.wait_for("the clock to resume", 10, |s| s.contains("running"));

    // Throttle until the car is fast enough for a crash that fires belted
    // occupants' airbags (above 26 km/h).
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        tmux.keys("w");
        std::thread::sleep(Duration::from_millis(400));
        let screen = tmux.screen();
        if speed(&screen) > 35.0 {
            break;
        }
        assert!(Instant::now() < until, "speed never rose:\n{screen}");
    }

    // A belted passenger next to the (default, belted) driver, then a crash.
    tmux.keys("2o");
    tmux.wait_for("an unbelted passenger", 10, |s| {
        airbag_line(s, "R1 Pass.").contains("yes  no")
    });
    tmux.keys("o");
    tmux.wait_for("a belted passenger", 10, |s| {
        airbag_line(s, "R1 Pass.").contains("yes  yes")
    });
    tmux.keys("c");
    let screen = tmux.wait_for("both front airbags deployed", 10, |s| {
        airbag_line(s, "R1 Driver").contains("DEPLOYED")
            && airbag_line(s, "R1 Pass.").contains("DEPLOYED")
    });
    assert!(
        airbag_line(&screen, "R2 Middle").contains("ready"),
        "an empty seat's airbag stays ready:\n{screen}"
    );
    // The crash disconnect: the high-voltage circuit is open.
    tmux.wait_for("the high-voltage circuit to open", 10, |s| {
        s.contains("HV OFF")
    });

    // The driver's seat heater one step up.
    tmux.keys("1");
    let before = number_after(&screen, "R1 Driver lvl").expect("seat heating level shown");
    tmux.keys("H");
    tmux.wait_for("the seat heating level to rise by 10", 10, |s| {
        number_after(s, "R1 Driver lvl") == Some(before + 10.0)
    });

    // Help opens and closes.
    tmux.keys("?");
    tmux.wait_for("the help overlay", 10, |s| {
        s.contains("Keys (? or Esc to close)")
    });
    tmux.keys("?");
    tmux.wait_for("the help overlay to close", 10, |s| {
        !s.contains("Keys (? or Esc to close)") && s.contains("Vehicle speed")
    });

    // Quit: the process exits 0 and the terminal is back to normal.
    tmux.keys("q");
    let screen = tmux.wait_for("tcu to exit", 20, |s| s.contains("tcu-exit="));
    assert!(screen.contains("tcu-exit=0"), "{screen}");
    assert!(
        !screen.contains("Vehicle speed"),
        "dashboard left on screen:\n{screen}"
    );
    assert_eq!(
        tmux.display("#{alternate_on}"),
        "0",
        "alternate screen left on"
    );
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor left hidden");
}

/// The pane's command: `tcu run` with `env` in front, then the exit status
/// and a line read back, to check the terminal after `tcu`.
fn run_then_read_a_line(env: &str) -> String {
    format!(
        "{env} '{}' run --seed 7; echo tcu-exit=$?; read -r line; echo \"read=[$line]\"; sleep 600",
        tcu_exe().display()
    )
}

#[test]
fn sigterm_stops_the_dashboard_and_gives_the_terminal_back() {
    let tmux = Tmux::start(&run_then_read_a_line(""));
    tmux.wait_for("the dashboard", 30, |s| s.contains("Vehicle speed"));
    assert_eq!(tmux.display("#{alternate_on}"), "1");
    let tcu = tmux.tcu();
    tcu.signal("-TERM");
    let screen = tmux.wait_for("tcu to exit", 20, |s| s.contains("tcu-exit="));
    assert!(screen.contains("tcu-exit=0"), "{screen}");
    assert!(!tcu.is_running(), "tcu still running after its exit status");
    tmux.assert_terminal_given_back();
}

#[test]
fn a_second_signal_forcing_the_exit_gives_the_terminal_back_and_names_the_log_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("tcu.log");
    // The render thread stalls after its first frame, holding the terminal
    // (as one blocked on a frozen terminal would): the orderly stop then
    // waits for it, and the second signal is what ends the process.
    let tmux = Tmux::start(&run_then_read_a_line(&format!(
        "TCU_DASHBOARD_STALL_AFTER_FRAMES=1 TCU_LOG_FILE='{}'",
        log.display()
    )));
    tmux.wait_for("the dashboard", 30, |s| s.contains("Vehicle speed"));
    let tcu = tmux.tcu();
    tcu.signal("-TERM");
    let until = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("signal received: stopping")
    {
        assert!(
            Instant::now() < until,
            "the first signal was not logged in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        tcu.is_running(),
        "the orderly stop ended before the second signal"
    );
    tcu.signal("-TERM");
    let screen = tmux.wait_for("tcu to exit", 20, |s| s.contains("tcu-exit="));
    assert!(
        screen.contains(&format!("tcu-exit={}", tcu_cli::shutdown::FORCED_EXIT)),
        "not the forced exit:\n{screen}"
    );
    assert!(
        screen.contains("second signal: exiting at once"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("log written to {}", log.display())),
        "the log file is not named:\n{screen}"
    );
    tmux.assert_terminal_given_back();
}

#[test]
fn a_panic_on_the_render_thread_stops_tcu_and_gives_the_terminal_back() {
    // Backtraces off: the message must stay on the 50-line screen.
    let tmux = Tmux::start(&run_then_read_a_line(
        "TCU_DASHBOARD_PANIC_AFTER_FRAMES=60 RUST_BACKTRACE=0",
    ));
    tmux.wait_for("the dashboard", 30, |s| s.contains("Vehicle speed"));
    let tcu = tmux.tcu();
    let screen = tmux.wait_for("tcu to exit", 20, |s| s.contains("tcu-exit="));
    assert!(
        screen.contains("panicked")
            && screen.contains("deliberate panic on the render thread after 60 frames"),
        "the panic message is not on the screen:\n{screen}"
    );
    assert!(
        screen.contains("the dashboard's render thread panicked"),
        "no error line:\n{screen}"
    );
    let status = screen
        .lines()
        .find_map(|l| l.trim().strip_prefix("tcu-exit="))
        .unwrap_or_default()
        .to_owned();
    assert!(
        !status.is_empty() && status != "0",
        "exit status {status:?}:\n{screen}"
    );
    // The tick loop runs on the main thread: the exit means it has ended.
    assert!(!tcu.is_running(), "tcu still running after its exit status");
    tmux.assert_terminal_given_back();
}

#[test]
fn killing_the_tmux_server_ends_the_orphaned_dashboard() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (stderr, status) = (dir.path().join("stderr"), dir.path().join("status"));
    // The shell ignores the hangup so that it outlives the terminal and
    // records how tcu ended; tcu installs its own SIGHUP handler.
    let command = format!(
        "trap '' HUP; '{}' run --seed 7 2>'{}'; echo $? >'{}'",
        tcu_exe().display(),
        stderr.display(),
        status.display()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("the dashboard", 30, |s| s.contains("Vehicle speed"));
    let tcu = tmux.tcu();
    let out = tmux.run(&["kill-server"]);
    assert!(
        out.status.success(),
        "tmux kill-server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        tcu.exits_within(10),
        "tcu (pid {}) still running 10 s after its terminal went away",
        tcu.pid
    );
    let status = wait_for_file(&status, 10);
    let stderr = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert_eq!(status.trim(), "1", "exit status; stderr:\n{stderr}");
    assert!(
        stderr.contains("terminal went away") && !stderr.contains("panicked"),
        "stderr:\n{stderr}"
    );
}

#[test]
fn the_poll_key_asks_the_ota_server_at_once() {
    const VIN: &str = "WTCUZ000000000001";
    let fake = DdiFake::start(VIN);
    // The server asks for an hour between polls: any poll soon after the
    // first one is the key's doing.
    fake.set_sleep("01:00:00");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("tcu.toml");
    std::fs::write(&config, "[mqtt]\nenabled = false\n").expect("writing tcu.toml");
    let command = format!(
        "'{}' run --driver idle --seed 7 --config '{}' --store '{}' --ota-server '{}'; \
         echo tcu-exit=$?; sleep 600",
        tcu_exe().display(),
        config.display(),
        dir.path().join("store").display(),
        fake.url()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("the dashboard", 30, |s| s.contains("Vehicle speed"));
    let _tcu = tmux.tcu();
    let start = Instant::now();
    while fake.polls() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no first poll; requests: {:?}\n{}",
            fake.requests(),
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The server's hour is honoured: no second poll on its own.
    std::thread::sleep(Duration::from_millis(1500));
    let before = fake.polls();
    assert_eq!(
        before,
        1,
        "polled again without being asked: {:?}",
        fake.requests()
    );

    tmux.keys("U");
    let start = Instant::now();
    while fake.polls() == before {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "U did not make the client poll within 10 s:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    tmux.keys("q");
    let screen = tmux.wait_for("tcu to exit", 20, |s| s.contains("tcu-exit="));
    assert!(screen.contains("tcu-exit=0"), "{screen}");
}

#[test]
fn the_fault_keys_inject_and_heal_a_dtc_that_the_header_shows() {
    let tmux = Tmux::start(&run_then_read_a_line(""));
    tmux.wait_for("the dashboard", 30, |s| {
        s.contains("Vehicle speed") && s.contains("DTC none")
    });
    // `D` moves past the four ABS wheel-sensor faults to the battery's;
    // `d` injects it.
    for _ in 0..4 {
        tmux.keys("D");
    }
    tmux.wait_for("the battery fault selected", 10, |s| {
        s.contains("d: P0A7E cell_overtemp")
    });
    tmux.keys("d");
    tmux.wait_for("the code in the header", 10, |s| s.contains("DTC 1: P0A7E"));
    tmux.keys("d");
    tmux.wait_for("the code healed", 10, |s| s.contains("DTC none"));
    tmux.keys("q");
    tmux.wait_for("tcu to exit", 20, |s| s.contains("tcu-exit="));
}
