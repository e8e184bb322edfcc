//! The `tcu-twin` command: parses the command line and calls into
//! `tcu_twin` (`serve`, `config generate`, and the `get` / `set` /
//! `export` client of a running twin).

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use tcu_twin::clock::parse_time;
use tcu_twin::config::{DEFAULT_TOML, Overrides, TwinConfig};

/// The digital twin of every vehicle on an MQTT broker.
#[derive(Debug, Parser)]
#[command(name = "tcu-twin", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mirror every vehicle on the broker and serve the API.
    Serve(ServeArgs),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a vehicle's document.
    Get {
        /// The VIN.
        vin: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Set desired values (PATH=VALUE ...) and print each one's final state;
    /// exit 1 unless all were applied.
    Set {
        /// The VIN.
        vin: String,
        /// Values: `Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature=23.5`.
        #[arg(required = true)]
        values: Vec<String>,
        /// How long to wait for the final states.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        wait: Duration,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Write a vehicle's history as a CSV trace (the format of `tcu scenario
    /// run --trace`).
    Export {
        /// The VIN.
        vin: String,
        /// From (RFC 3339 or epoch milliseconds).
        #[arg(long)]
        from: String,
        /// To (RFC 3339 or epoch milliseconds).
        #[arg(long)]
        to: String,
        /// Only these signals (repeat); default every signal it reported.
        #[arg(long = "signal")]
        signals: Vec<String>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Vet one candidate (what a vetting job of `serve` runs in a child
    /// process): the report as JSON on standard output; exit 0 when it
    /// passed, 1 when not, 2 when it could not vet.
    #[command(hide = true)]
    VetJob {
        /// The library the fleet runs.
        #[arg(long)]
        current: PathBuf,
        /// The candidate library.
        #[arg(long)]
        candidate: PathBuf,
        /// Tolerance file (`tcu vet --tolerances`).
        #[arg(long)]
        tolerances: Option<PathBuf>,
        /// Trace files.
        #[arg(required = true)]
        traces: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the default configuration.
    Generate,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML); see `tcu-twin config generate`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Broker: mqtt://host[:port] or mqtts://host[:port].
    #[arg(long)]
    broker: Option<String>,
    /// History store: an SQLite file, or a `postgres://user@host/db` URL
    /// (password from TCU_TWIN_DB_PASSWORD or `store.password_file`).
    #[arg(long)]
    db: Option<PathBuf>,
    /// HTTP listen address (IP:port).
    #[arg(long)]
    http: Option<String>,
    /// Topic root template, `{vin}` standing for any VIN.
    #[arg(long)]
    topic_root: Option<String>,
    /// NATS server (nats://host[:port]) to read telemetry and events from,
    /// through a JetStream durable consumer shared by the twins of one
    /// share group (for a NATS cluster).
    #[arg(long)]
    nats: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ApiArgs {
    /// The twin's base URL.
    #[arg(long, env = "TCU_TWIN_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Bearer token.
    #[arg(long, env = "TCU_TWIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
}

fn time(arg: &str, s: &str) -> Result<i64> {
    parse_time(s).with_context(|| {
        format!("--{arg} `{s}` is neither an RFC 3339 time nor epoch milliseconds")
    })
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(a) => {
            init_logging();
            let overrides = Overrides {
                broker: a.broker,
                db: a.db,
                http: a.http,
                topic_root: a.topic_root,
                nats: a.nats,
                ..Overrides::default()
            };
            let cfg = TwinConfig::load(a.config.as_deref(), &overrides)?;
            tcu_twin::service::serve(cfg)?;
        }
        Command::Config(ConfigCommand::Generate) => print!("{DEFAULT_TOML}"),
        Command::VetJob {
            current,
            candidate,
            tolerances,
            traces,
        } => {
            let catalog = std::sync::Arc::new(tcu_engine::catalog::Catalog::builtin());
            match tcu_twin::vet::vet_files(
                &current,
                &candidate,
                &traces,
                tolerances.as_deref(),
                &catalog,
            ) {
                Ok((report, passed)) => {
                    print!("{report}");
                    std::process::exit(if passed { 0 } else { 1 });
                }
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            }
        }
        Command::Get { vin, api } => {
            let c = tcu_twin::client::Client::new(&api.url, api.token)?;
            println!("{}", serde_json::to_string_pretty(&c.document(&vin)?)?);
        }
        Command::Set {
            vin,
            values,
            wait,
            api,
        } => {
            let values = values
                .iter()
                .map(|v| tcu_twin::client::parse_assignment(v))
                .collect::<Result<Vec<_>, _>>()?;
            let c = tcu_twin::client::Client::new(&api.url, api.token)?;
            let results = c.set(&vin, &values, wait)?;
            for r in &results {
                match &r.reason {
                    Some(why) => println!("{}: {} ({why})", r.path, r.state),
                    None => println!("{}: {}", r.path, r.state),
                }
            }
            if !results.iter().all(|r| r.applied()) {
                std::process::exit(1);
            }
        }
        Command::Export {
            vin,
            from,
            to,
            signals,
            out,
            api,
        } => {
            let (from, to) = (time("from", &from)?, time("to", &to)?);
            if from > to {
                bail!("--from is after --to");
            }
            let c = tcu_twin::client::Client::new(&api.url, api.token)?;
            let text = c.export(&vin, from, to, &signals)?;
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
        }
    }
    Ok(())
}
