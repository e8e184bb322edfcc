//! The `tcu` command: parses the command line and calls into `tcu_cli`.

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tcu_cli::config::{Config, DEFAULT_TOML, Overrides};
use tcu_dashboard::LogSink;
use tcu_engine::catalog::Catalog;
use tcu_engine::config::VehicleOverrides;
use tcu_engine::swap::sign;
use tcu_engine::world::driver::DriverProfile;

/// Vehicle TCU simulator and SDV digital twin.
#[derive(Debug, Parser)]
#[command(name = "tcu", version, about, after_help = tcu_cli::operator::environment_help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: tcu_cli::log::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one vehicle in real time.
    Run(RunArgs),
    /// Run a fleet of vehicles in one process, each with its own VIN, seed
    /// and MQTT connection.
    Fleet(FleetArgs),
    /// Work with subsystem plugin libraries.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run scenario files.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// OTA rollout tooling: bundle a plugin, publish it to a server.
    #[command(subcommand)]
    Ota(OtaCommand),
    /// Replay recorded traces through the current and a candidate library
    /// side by side; exit code 0 within tolerance on every trace, 1 not, 2
    /// could not run.
    Vet(VetArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// Arguments of `tcu vet`.
#[derive(Debug, Clone, clap::Args)]
struct VetArgs {
    /// The library vehicles run now.
    #[arg(long, value_name = "LIB")]
    current: PathBuf,
    /// The library that would replace it.
    #[arg(long, value_name = "LIB")]
    candidate: PathBuf,
    /// Trace files (`tcu run --record`), or directories of them.
    #[arg(required = true)]
    traces: Vec<PathBuf>,
    /// Per-signal tolerances (TOML: [default] and [signals."PATH"], each abs / rel).
    #[arg(long, value_name = "FILE")]
    tolerances: Option<PathBuf>,
    /// Write JUnit XML here.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum ScenarioCommand {
    /// Run scenario files; exit code 0 all passed, 1 an expectation failed,
    /// 2 a scenario could not be run.
    Run(ScenarioArgs),
}

#[derive(Debug, Subcommand)]
enum OtaCommand {
    /// Bundle a plugin library (and its signature) as an SWU for upload.
    Package {
        /// The plugin library.
        #[arg(long)]
        plugin: PathBuf,
        /// Its signature (default: PLUGIN.sig when it exists).
        #[arg(long)]
        sig: Option<PathBuf>,
        /// Bundle version (default: the plugin's version).
        #[arg(long)]
        version: Option<String>,
        /// Hardware revision the bundle fits (repeat for several); goosebit
        /// assigns it only to devices reporting one of them (`[ota]
        /// hw_revision`).
        #[arg(long = "hw-revision", value_name = "REV", default_value = tcu_cli::config::DEFAULT_HW_REVISION)]
        hw_revisions: Vec<String>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Upload a bundle to a goosebit server and assign it to a device.
    Publish {
        /// Server base URL.
        #[arg(long)]
        server: String,
        /// The management API the server speaks.
        #[arg(long, value_enum, default_value = "goosebit")]
        api: tcu_cli::rollout::Api,
        /// The bundle (from `tcu ota package`).
        #[arg(long)]
        bundle: PathBuf,
        /// Device (controller id) to assign it to.
        #[arg(long)]
        device: String,
        /// Management user.
        #[arg(long, env = "TCU_OTA_USER", default_value = "admin")]
        user: String,
        /// Management password (better: `TCU_OTA_PASSWORD`, or
        /// `TCU_OTA_PASSWORD_FILE` naming a file holding it, which keep it
        /// out of the process list).
        #[arg(long, env = "TCU_OTA_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Before uploading, vet the bundle's library against
        /// `--vet-current` on these recorded traces (files or directories,
        /// as `tcu vet` takes them); a candidate that fails is not
        /// published.
        #[arg(long = "vet-traces", value_name = "TRACE", requires = "vet_current")]
        vet_traces: Vec<PathBuf>,
        /// The library the vehicles run now, for `--vet-traces`.
        #[arg(long = "vet-current", value_name = "LIB", requires = "vet_traces")]
        vet_current: Option<PathBuf>,
        /// Tolerances for `--vet-traces` (as `tcu vet --tolerances`).
        #[arg(long = "vet-tolerances", value_name = "FILE", requires = "vet_traces")]
        vet_tolerances: Option<PathBuf>,
    },
    /// Roll a bundle out on a hawkBit server: upload it (software module,
    /// artifact, distribution set), then create and start a rollout over
    /// the targets a filter matches, in groups with a success condition and
    /// an error threshold.
    Rollout {
        /// hawkBit's base URL.
        #[arg(long)]
        server: String,
        /// The bundle (from `tcu ota package`).
        #[arg(long)]
        bundle: PathBuf,
        /// Which targets (hawkBit's query), e.g. `controllerId==WTCUZ*`.
        #[arg(long)]
        filter: String,
        /// The rollout's name (default: the bundle's file name).
        #[arg(long)]
        name: Option<String>,
        /// Groups the targets are split into.
        #[arg(long, default_value_t = 4)]
        groups: u32,
        /// Percent of a group that must succeed before the next starts.
        #[arg(long = "success-percent", default_value_t = 80, value_parser = clap::value_parser!(u8).range(0..=100))]
        success_percent: u8,
        /// Percent of a group failing that pauses the rollout.
        #[arg(long = "error-percent", default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
        error_percent: u8,
        /// Management user.
        #[arg(long, env = "TCU_OTA_USER", default_value = "admin")]
        user: String,
        /// Management password (better: `TCU_OTA_PASSWORD` or
        /// `TCU_OTA_PASSWORD_FILE`).
        #[arg(long, env = "TCU_OTA_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// Arguments of `tcu scenario run`.
#[derive(Debug, Clone, clap::Args)]
struct ScenarioArgs {
    /// Scenario files (TOML), or directories: a directory runs every `.toml`
    /// file directly inside it, sorted by name (subdirectories are not
    /// searched); one without any is an error.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write JUnit XML here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write the CSV trace (time,signal,value) here.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Run on the wall clock instead of virtual time.
    #[arg(long)]
    realtime: bool,
    /// Directory of subsystem libraries (default: next to this executable).
    #[arg(long)]
    plugins: Option<PathBuf>,
}

impl From<ScenarioArgs> for tcu_scenario::files::Args {
    fn from(a: ScenarioArgs) -> Self {
        Self {
            paths: a.paths,
            junit: a.junit,
            trace: a.trace,
            realtime: a.realtime,
            plugins: a.plugins,
        }
    }
}

impl From<VetArgs> for tcu_cli::vet::Args {
    fn from(a: VetArgs) -> Self {
        Self {
            current: a.current,
            candidate: a.candidate,
            traces: a.traces,
            tolerances: a.tolerances,
            junit: a.junit,
            json: a.json,
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = tcu_cli::operator::environment_help())]
struct RunArgs {
    /// Configuration file (TOML); see `tcu config generate`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// No dashboard: print a status line every second.
    #[arg(long)]
    headless: bool,
    /// Stop after this much time (e.g. `30s`, `5m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<std::time::Duration>,
    /// Vehicle identification number.
    #[arg(long)]
    vin: Option<String>,
    /// Directory of subsystem libraries (default: next to this executable).
    #[arg(long)]
    plugins: Option<PathBuf>,
    /// Seed of every random source.
    #[arg(long)]
    seed: Option<u64>,
    /// Who drives.
    #[arg(long, value_parser = tcu_cli::operator::driver_parser())]
    driver: Option<DriverProfile>,
    /// Plugin store directory (installed versions and the active manifest).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Accept plugin libraries without a signature (development only).
    #[arg(long)]
    allow_unsigned: bool,
    /// Hot-swap rebuilt plugin libraries written into this directory.
    #[arg(long, value_name = "DIR")]
    watch: Option<PathBuf>,
    /// MQTT broker (`mqtt://host:1883`, `mqtts://host:8883`); default: embedded.
    #[arg(long)]
    broker: Option<String>,
    /// Telemetry layout.
    #[arg(long, value_parser = tcu_cli::operator::profile_parser())]
    profile: Option<tcu_cli::config::Profile>,
    /// Take OTA rollouts from this hawkBit DDI server (overrides [ota] server).
    #[arg(long, env = "TCU_OTA_SERVER", value_name = "URL")]
    ota_server: Option<String>,
    /// Poll the OTA server at this interval instead of the server's (development).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    ota_poll: Option<std::time::Duration>,
    /// Record every signal the plugins read and write, every tick, to FILE
    /// (rotated as `[record]` says; overrides [record] path).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// With --headless: run N ticks per wake-up, the first at its deadline
    /// and the rest at once (simulated time and the trace are unchanged;
    /// commands wait up to N ticks). A wake-up costs more CPU than a tick.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    ticks_per_wake: u32,
}

#[derive(Debug, clap::Args)]
struct FleetArgs {
    /// Vehicles in the whole fleet (all shards together).
    #[arg(long)]
    vehicles: u64,
    /// Configuration file (TOML) every vehicle starts from; see `tcu config generate`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Fleet file (TOML): shares of driver profiles, ambient temperatures,
    /// occupants, start spread (README "Fleet").
    #[arg(long, value_name = "FILE")]
    fleet: Option<PathBuf>,
    /// First 1 to 8 characters of every VIN.
    #[arg(long, default_value = "WTCUZ")]
    vin_prefix: String,
    /// Fleet seed: every vehicle's seed and start time derive from it
    /// (default: the configuration's seed).
    #[arg(long)]
    seed: Option<u64>,
    /// MQTT broker (`mqtt://host:1883`); default: one embedded broker.
    #[arg(long)]
    broker: Option<String>,
    /// Physics ticks per second of every vehicle.
    #[arg(long)]
    tick_rate: Option<f64>,
    /// Telemetry period of every vehicle (e.g. `1s`).
    #[arg(long, value_parser = humantime::parse_duration)]
    publish_period: Option<std::time::Duration>,
    /// Run only slice K of M of the fleet (`1/2`, `2/2` on two machines).
    #[arg(long, default_value = "1/1")]
    shard: tcu_fleet::Shard,
    /// Stop after this much time (e.g. `30s`, `5m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<std::time::Duration>,
    /// Connection attempts per second across the fleet, first connects and
    /// reconnects alike.
    #[arg(long, default_value_t = 200.0)]
    connect_rate: f64,
    /// Threads, each stepping its share of the vehicles and running their
    /// MQTT links (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Run N ticks of a vehicle per wake-up, the first at its deadline and
    /// the rest at once (simulated time is unchanged; commands wait up to
    /// N ticks; only the first can be late). Ticks run back to back find
    /// the vehicle's state in the caches: less CPU per vehicle.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    ticks_per_wake: u32,
    /// Each vehicle's outbox goes in DIR/<VIN> (default: the temporary
    /// directory's tcu-fleet-outbox).
    #[arg(long, value_name = "DIR")]
    outbox_dir: Option<PathBuf>,
    /// Each vehicle's outbox limit in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    outbox_max_bytes: u64,
    /// Summary line interval.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    status_interval: std::time::Duration,
    /// Also write each summary as a JSON line to FILE.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// Take OTA rollouts from this hawkBit DDI server: every vehicle is its
    /// own controller (id = VIN); overrides [ota] server.
    #[arg(long, value_name = "URL")]
    ota_server: Option<String>,
    /// Poll the OTA server at this interval instead of the server's.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    ota_poll: Option<std::time::Duration>,
    /// Threads polling the vehicles' OTA clients (an installation holds
    /// one until its probation ends).
    #[arg(long, default_value_t = 8)]
    ota_threads: usize,
    /// Every vehicle's OTA state and plugin store go in DIR/<VIN>, the
    /// shared artifact cache in DIR/artifacts (default: the temporary
    /// directory's tcu-fleet-state).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Print a library's descriptor. Opening the library runs its
    /// initialisers, so it is opened in a short-lived child process: a
    /// library that crashes or hangs there cannot harm this one.
    Inspect {
        /// The library file.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Give up (and kill the child process) after this long.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        timeout: std::time::Duration,
    },
    /// What `inspect` runs in its child process: open FILE here, print its
    /// descriptor as JSON.
    #[command(name = tcu_cli::inspect::CHILD_SUBCOMMAND, hide = true)]
    InspectInThisProcess {
        /// The library file.
        file: PathBuf,
    },
    /// Write a new ed25519 key pair: tcu-signing.key and tcu-signing.pub in
    /// the current directory.
    Keygen,
    /// Sign a library: writes FILE.sig.
    Sign {
        /// Secret key file (from `tcu plugin keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The library file.
        file: PathBuf,
    },
    /// Check FILE.sig; exits non-zero when missing or bad.
    Verify {
        /// Public key file (default: the configuration's trusted keys).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Configuration file whose [hotswap] trusted_keys to use.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The library file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the default configuration.
    Generate,
    /// Validate a configuration file without running: exit 0 when valid,
    /// else 1 with the error naming the file and the field.
    Check {
        /// The configuration file (TOML).
        file: PathBuf,
    },
}

fn run(args: RunArgs, log: &tcu_cli::log::LogArgs) -> Result<()> {
    let dashboard = (!args.headless && std::io::stdout().is_terminal()).then(LogSink::new);
    let log_file = tcu_cli::log::init(log, dashboard.as_ref())?;
    let catalog = Catalog::builtin();
    let cli = Overrides {
        vehicle: VehicleOverrides {
            vin: args.vin,
            seed: args.seed,
            plugins_dir: args.plugins,
            tick_rate_hz: None,
            driver: args.driver,
            allow_unsigned: args.allow_unsigned.then_some(true),
            store: args.store,
        },
        broker: args.broker,
        profile: args.profile,
    };
    let mut config = Config::load(args.config.as_deref(), &cli, &catalog)?;
    if let Some(url) = args.ota_server {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "--ota-server: `{url}` is not an http:// or https:// URL"
        );
        config.ota.server = Some(url.trim_end_matches('/').to_owned());
    }
    if let Some(d) = args.ota_poll {
        anyhow::ensure!(!d.is_zero(), "--ota-poll: must be above zero");
        config.ota.poll_interval = Some(d);
    }
    config.record.path = args.record.or(config.record.path);
    let stop = Arc::new(AtomicBool::new(false));
    // A forced exit skips the dashboard's own way out: give the terminal
    // back and name the log file first.
    let last_words: tcu_cli::shutdown::LastWords = if dashboard.is_some() {
        let log_file = log_file.clone();
        Arc::new(move || {
            tcu_dashboard::restore_terminal_before_exit();
            if let Some(path) = &log_file {
                eprintln!("log written to {}", path.display());
            }
        })
    } else {
        Arc::new(|| {})
    };
    tcu_cli::shutdown::install(stop.clone(), last_words)
        .context("installing the SIGINT/SIGTERM handler")?;
    let watch = args.watch.as_deref();
    match dashboard {
        Some(sink) => {
            let result = tcu_cli::app::run_dashboard(&config, args.duration, &stop, sink, watch);
            // The screen is the terminal's again: say where the event log went.
            if let Some(path) = log_file {
                eprintln!("log written to {}", path.display());
            }
            result.map(drop)?
        }
        None => {
            let pacing = tcu_cli::app::Pacing {
                duration: args.duration,
                ticks_per_wake: args.ticks_per_wake,
            };
            tcu_cli::app::run_headless(&config, pacing, &stop, watch).map(drop)?;
        }
    }
    Ok(())
}

fn fleet(args: FleetArgs, log: &tcu_cli::log::LogArgs) -> Result<()> {
    tcu_cli::log::init(log, None)?;
    let cli = Overrides {
        vehicle: VehicleOverrides {
            tick_rate_hz: args.tick_rate,
            ..VehicleOverrides::default()
        },
        broker: args.broker,
        profile: None,
    };
    let mut config = Config::load(args.config.as_deref(), &cli, &Catalog::builtin())?;
    if let Some(p) = args.publish_period {
        anyhow::ensure!(!p.is_zero(), "--publish-period: must be above zero");
        config.mqtt.publish_period = p;
    }
    anyhow::ensure!(
        args.connect_rate > 0.0 && args.connect_rate.is_finite(),
        "--connect-rate: {} is not a positive number of connections per second",
        args.connect_rate
    );
    anyhow::ensure!(
        !args.status_interval.is_zero(),
        "--status-interval: must be above zero"
    );
    if args.ota_poll.is_some() {
        config.ota.poll_interval = args.ota_poll;
    }
    let state_dir = args
        .state_dir
        .unwrap_or_else(|| std::env::temp_dir().join("tcu-fleet-state"));
    let ota = match args.ota_server.or_else(|| config.ota.server.clone()) {
        Some(server) => Some(tcu_fleet::ota::FleetOta {
            attach: Arc::new(tcu_cli::fleet_ota::FleetClients::new(
                &config,
                &server,
                &state_dir.join("artifacts"),
            )?),
            server,
            threads: args.ota_threads.max(1),
            state_dir,
        }),
        None => None,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let settings = tcu_fleet::FleetSettings {
        vehicles: args.vehicles,
        vin_prefix: args.vin_prefix,
        seed: args.seed.unwrap_or(config.vehicle.seed),
        shard: args.shard,
        workers: args.workers.unwrap_or(cores).max(1),
        connect_rate: args.connect_rate,
        ticks_per_wake: args.ticks_per_wake,
        duration: args.duration,
        outbox_root: args
            .outbox_dir
            .unwrap_or_else(|| std::env::temp_dir().join("tcu-fleet-outbox")),
        outbox_max_bytes: args.outbox_max_bytes.max(65_536),
        outbox_mem: 256,
        status_interval: args.status_interval,
        stats: args.stats,
        mix: args
            .fleet
            .as_deref()
            .map(tcu_fleet::mix::Mix::load)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        ota,
    };
    let stop = Arc::new(AtomicBool::new(false));
    tcu_cli::shutdown::install(stop.clone(), Arc::new(|| {}))
        .context("installing the SIGINT/SIGTERM handler")?;
    tcu_fleet::run(&config.vehicle, &config.mqtt, &settings, &stop)?;
    Ok(())
}

/// The management password: `--password`, `TCU_OTA_PASSWORD` or the file
/// `TCU_OTA_PASSWORD_FILE` names.
fn ota_password(given: Option<String>) -> anyhow::Result<String> {
    Ok(
        tcu_cli::operator::secret(given, "TCU_OTA_PASSWORD", |k| std::env::var(k).ok())?.ok_or(
            tcu_cli::operator::CheckError::SecretMissing {
                what: "--password".into(),
                variable: "TCU_OTA_PASSWORD".into(),
            },
        )?,
    )
}

fn main() -> Result<()> {
    let matches = Cli::command()
        .long_version(tcu_cli::operator::long_version())
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.exit())?;
    match cli.command {
        Command::Run(args) => run(args, &cli.log),
        Command::Fleet(args) => fleet(args, &cli.log),
        Command::Plugin(PluginCommand::Inspect {
            file,
            json,
            timeout,
        }) => {
            let me = std::env::current_exe().context("finding the tcu executable")?;
            let info = tcu_cli::inspect::inspect_isolated(&me, &file, timeout)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", tcu_cli::inspect::describe_plugin(&info, &file));
            }
            Ok(())
        }
        Command::Plugin(PluginCommand::InspectInThisProcess { file }) => {
            // Only the loader's message goes back to the parent, which
            // reports it as its own error.
            match tcu_engine::plugin::inspect(&file) {
                Ok(info) => {
                    println!("{}", serde_json::to_string(&info)?);
                    Ok(())
                }
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2)
                }
            }
        }
        Command::Plugin(PluginCommand::Keygen) => {
            let (key, public) = (
                PathBuf::from("tcu-signing.key"),
                PathBuf::from("tcu-signing.pub"),
            );
            sign::keygen(&key, &public)?;
            println!(
                "wrote {} (secret, keep it safe) and {} (add it to [hotswap] trusted_keys)",
                key.display(),
                public.display()
            );
            Ok(())
        }
        Command::Plugin(PluginCommand::Sign { key, file }) => {
            let sig = sign::sign_file(&key, &file)?;
            println!("wrote {}", sig.display());
            Ok(())
        }
        Command::Plugin(PluginCommand::Verify { key, config, file }) => {
            let keys = match key {
                Some(k) => vec![sign::read_public_key(&k)?],
                None => {
                    let config = Config::load(
                        config.as_deref(),
                        &Overrides::default(),
                        &Catalog::builtin(),
                    )?;
                    sign::trusted_keys(&config.vehicle.hotswap.trusted_keys)?
                }
            };
            sign::verify_file(&file, &keys)?;
            println!("{}: good signature", file.display());
            Ok(())
        }
        Command::Scenario(ScenarioCommand::Run(args)) => {
            std::process::exit(tcu_scenario::files::run(&args.into()))
        }
        Command::Ota(cmd) => ota(cmd),
        Command::Vet(args) => std::process::exit(tcu_cli::vet::run(&args.into())),
        Command::Config(ConfigCommand::Generate) => {
            print!("{DEFAULT_TOML}");
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file }) => {
            tcu_cli::operator::check_config(&file)?;
            println!("{}: valid", file.display());
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tcu", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let page = clap_mangen::Man::new(
                Cli::command().long_version(tcu_cli::operator::long_version()),
            );
            page.render(&mut std::io::stdout())
                .context("writing the man page")?;
            Ok(())
        }
    }
}

fn ota(cmd: OtaCommand) -> Result<()> {
    let done = match cmd {
        OtaCommand::Package {
            plugin,
            sig,
            version,
            hw_revisions,
            out,
        } => tcu_cli::rollout::package(&plugin, sig, version, &hw_revisions, &out)?,
        OtaCommand::Rollout {
            server,
            bundle,
            filter,
            name,
            groups,
            success_percent,
            error_percent,
            user,
            password,
        } => {
            let password = ota_password(password)?;
            let name = name.unwrap_or_else(|| {
                bundle
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "tcu rollout".into())
            });
            let request = tcu_cli::rollout::RolloutRequest {
                bundle,
                name,
                filter,
                groups,
                success_percent,
                error_percent,
            };
            tcu_cli::rollout::hawkbit_rollout(&server, &user, &password, &request)?
        }
        OtaCommand::Publish {
            server,
            api,
            bundle,
            device,
            user,
            password,
            vet_traces,
            vet_current,
            vet_tolerances,
        } => {
            if let Some(current) = vet_current {
                let gate = tcu_cli::rollout::VetGate {
                    current,
                    traces: vet_traces,
                    tolerances: vet_tolerances,
                };
                let report = tcu_cli::rollout::vet_bundle(&bundle, &gate)?;
                eprint!("{}", report.to_table());
                if !report.passed {
                    return Err(tcu_cli::rollout::RolloutError::Vetting {
                        bundle,
                        reason: "the candidate fails vetting (report above)".into(),
                    }
                    .into());
                }
                eprintln!("vetting passed: publishing {}", bundle.display());
            }
            let password = ota_password(password)?;
            tcu_cli::rollout::publish(api, &server, &bundle, &device, &user, &password)?
        }
    };
    println!("{done}");
    Ok(())
}
