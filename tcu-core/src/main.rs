//! The `tcu` command: parses the command line and calls into `tcu_core`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tcu_core::catalog::Catalog;
use tcu_core::config::{Config, DEFAULT_TOML, Overrides};
use tcu_core::world::driver::DriverProfile;

/// Vehicle TCU simulator and SDV digital twin.
#[derive(Debug, Parser)]
#[command(name = "tcu", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one vehicle in real time.
    Run(RunArgs),
    /// Work with subsystem plugin libraries.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, clap::Args)]
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
    /// Who drives: demo or idle.
    #[arg(long)]
    driver: Option<DriverProfile>,
    /// MQTT broker (`mqtt://host:1883`, `mqtts://host:8883`); default: embedded.
    #[arg(long)]
    broker: Option<String>,
    /// Telemetry layout: default or legacy.
    #[arg(long)]
    profile: Option<tcu_core::config::Profile>,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Print a library's descriptor without running its code.
    Inspect {
        /// The library file.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the default configuration.
    Generate,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

fn run(args: RunArgs) -> Result<()> {
    init_tracing();
    let catalog = Catalog::builtin();
    let cli = Overrides {
        vin: args.vin,
        seed: args.seed,
        plugins_dir: args.plugins,
        tick_rate_hz: None,
        driver: args.driver,
        broker: args.broker,
        profile: args.profile,
    };
    let config = Config::load(args.config.as_deref(), &cli, &catalog)?;
    if !args.headless && std::io::stdout().is_terminal() {
        tracing::info!("the dashboard is not part of this build yet; running headless");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .context("installing the SIGINT/SIGTERM handler")?;
    tcu_core::app::run_headless(&config, args.duration, &stop)?;
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Plugin(PluginCommand::Inspect { file, json }) => {
            let info = tcu_core::plugin::inspect(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{}", tcu_core::app::describe_plugin(&info, &file));
            }
            Ok(())
        }
        Command::Config(ConfigCommand::Generate) => {
            print!("{DEFAULT_TOML}");
            Ok(())
        }
    }
}
