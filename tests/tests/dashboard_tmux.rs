//! The dashboard in a real terminal: `tcu run` inside a detached tmux session
//! of a fixed size, driven with `send-keys` and read with `capture-pane`.
//! Drives off, seats a passenger and crashes, turns up a seat heater, opens
//! and closes the help, quits, and checks the terminal was given back.
//!
//! Every wait is bounded; the tmux server (on a socket of its own) is killed
//! when the test ends, passed or not. tmux is required: `scripts/test`
//! installs it.

use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tcu_integration_tests::fixtures;

const WIDTH: u16 = 160;
const HEIGHT: u16 = 50;

/// A tmux server of our own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmux = Self {
            socket: format!("tcu-dash-{}-{nanos}", std::process::id()),
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
    let exe = fixtures::workspace_plugins_dir().join("tcu");
    assert!(exe.is_file(), "{} missing", exe.display());
    let command = format!(
        "'{}' run --driver idle --seed 7; echo tcu-exit=$?; sleep 600",
        exe.display()
    );
    let tmux = Tmux::start(&command);

    let screen = tmux.wait_for("the dashboard", 30, |s| {
        s.contains("Vehicle speed") && s.contains("battery")
    });
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

    // Throttle until the speed shown rises.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        tmux.keys("w");
        std::thread::sleep(Duration::from_millis(400));
        let screen = tmux.screen();
        if speed(&screen) > 5.0 {
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

#[test]
fn sigterm_stops_the_dashboard_and_gives_the_terminal_back() {
    let exe = fixtures::workspace_plugins_dir().join("tcu");
    let command = format!(
        "'{}' run --seed 7; echo tcu-exit=$?; sleep 600",
        exe.display()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("the dashboard", 30, |s| s.contains("Vehicle speed"));
    // The pane runs `sh`, whose only child is `tcu`.
    let shell = tmux.display("#{pane_pid}");
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .unwrap_or_else(|_| {
            let out = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        });
    let pid = children.split_whitespace().next().expect("tcu is running");
    let status = Command::new("kill").args(["-TERM", pid]).status().unwrap();
    assert!(status.success());
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
