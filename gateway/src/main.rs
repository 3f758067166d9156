//! The `sungate` command line. Errors are reported with `anyhow` here, at the binary's edge only.

use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

mod cli;

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use sungate::decode::{self, JsonStyle};
use sungate_drivers::pi30::codec::DecodeOptions;
use sungate_drivers::pi30::fields::Variant;

/// sungate: a gateway for Voltronic (PI30) inverters and Victron VE.Direct devices.
#[derive(Debug, Parser)]
#[command(name = "sungate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway: poll every configured device and report what it reads.
    Run {
        /// The configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Check a configuration file and report the first problem with its line.
    CheckConfig { file: PathBuf },
    /// Ask a device once and print the answer.
    ///
    /// PORT is a serial device (/dev/ttyUSB0), tcp://HOST:PORT (a serial bridge) or hid:PATH.
    /// PI30: name queries (QPIGS QPIRI ...). PI18: GS PIRI MOD .... `identify` (PI30/PI18)
    /// tells which protocol the unit speaks (PI30, PI30 MAX, PI18, PI17, PI16 or unknown) from
    /// how it answers a few harmless queries. VE.Direct: no argument reads one text record;
    /// register names or ids (0xEDEC) are read over HEX.
    Query {
        #[arg(long)]
        port: String,
        #[arg(long, value_enum, default_value_t = sungate::types::DriverKind::Pi30)]
        protocol: sungate::types::DriverKind,
        /// Serial speed (default 2400 for PI30/PI18, 19200 for VE.Direct).
        #[arg(long)]
        baud: Option<u32>,
        #[arg(long, value_enum, default_value_t = cli::oneshot::Format::Json)]
        format: cli::oneshot::Format,
        /// Reply timeout in seconds.
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
        commands: Vec<String>,
    },
    /// Change a setting, validated before sending and verified by reading it back.
    ///
    /// PI30 settings: output_source_priority (utility_first|solar_first|sbu_first),
    /// charger_source_priority, max_charging_current, battery_bulk_charge_voltage, ...
    /// PI18: output_source_priority (solar_first|sbu_first), charger_source_priority,
    /// max_charging_current, max_utility_charging_current.
    Set {
        #[arg(long)]
        port: String,
        #[arg(long, value_enum, default_value_t = sungate::types::DriverKind::Pi30)]
        protocol: sungate::types::DriverKind,
        #[arg(long)]
        baud: Option<u32>,
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
        name: String,
        value: String,
    },
    /// Run only the BMV -> MPPT bridge, without a config file: the BMV's battery temperature
    /// and voltage are written to each MPPT's remote-sense registers every 15 s.
    Bridge {
        /// The BMV / SmartShunt port (serial path or tcp://HOST:PORT).
        #[arg(long)]
        bmv: String,
        /// An MPPT port; repeat for several MPPTs.
        #[arg(long, required = true)]
        mppt: Vec<String>,
        /// Seconds between refreshes (at most 45: the MPPT forgets after 60).
        #[arg(long, default_value_t = 15.0)]
        refresh: f64,
    },
    /// List candidate ports: hidraw devices (0665:5161 = inverter) and USB serial ports.
    Scan {
        /// Also ask each serial port whether a PI30 inverter or a VE.Direct device answers.
        #[arg(long)]
        probe: bool,
    },
    /// First run: probe this machine (USB HID inverters, /dev/serial/by-id), show what answers
    /// and write a commented config with stable device names (never replaces a file without
    /// --force).
    Init(cli::init::InitArgs),
    /// Write the config of the Home Assistant add-on from its options (/data/options.json).
    #[command(hide = true)]
    AddonConfig(cli::init::addon::AddonArgs),
    /// Start the simulator (inverter, BMV, MPPT) and the gateway against it: no hardware needed.
    #[cfg(feature = "demo")]
    Demo {
        /// Where the simulated devices' PTYs appear.
        #[arg(long, default_value = "/tmp/sungate-demo")]
        pty_dir: PathBuf,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
        /// Address of the simulator's control API.
        #[arg(long, default_value = "127.0.0.1:8900")]
        control: std::net::SocketAddr,
        /// Allow --control on a non-loopback address (the API has no authentication).
        #[arg(long)]
        allow_remote_control: bool,
        /// Address of the dashboard (a free port is used when this one is taken).
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// Allow settings to be changed from the dashboard and the API, with the token on the
        /// first line of this file (as `[http] writes = true` with `token_file`).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Export a device's stored snapshots (the [history] database of a config) to standard
    /// output, as CSV (a header, then one row per snapshot) or JSON lines.
    ///
    /// TIME is RFC 3339 (2026-11-29T10:00:00Z), a date (2026-11-29, midnight UTC), unix
    /// seconds, `now`, or a time before now (-1h, -7d).
    Export {
        /// The gateway's configuration file (TOML); its [history] path is read.
        #[arg(short, long)]
        config: PathBuf,
        #[arg(long)]
        device: String,
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        from: String,
        /// Default: now.
        #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
        to: Option<String>,
        /// Fields to export, comma-separated (default: every stored numeric field).
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
        #[arg(long, value_enum, default_value_t = cli::export::Format::Csv)]
        format: cli::export::Format,
    },
    /// Decode protocol bytes offline (no device needed).
    #[command(subcommand)]
    Decode(DecodeCommand),
}

#[derive(Debug, Subcommand)]
enum DecodeCommand {
    /// Decode one PI30 reply frame and print it as one JSON object.
    ///
    /// Example: sungate decode pi30 QPI "28 50 49 33 30 9a 0b 0d"
    Pi30(Pi30Args),
    /// Decode a raw VE.Direct byte stream (text blocks and HEX frames) into JSON lines.
    ///
    /// Prints one JSON object per committed text block and per HEX frame on stdout, and a
    /// summary (blocks ok, checksum failures, hex frames, bytes skipped, rejected) on stderr.
    /// A block is committed when its checksum matches and it passes the gateway's structural
    /// and plausibility checks; "rejected" counts checksum-valid blocks the checks dropped
    /// (RUST_LOG=sungate_drivers=debug prints each reason).
    Vedirect(VedirectArgs),
}

#[derive(Debug, Args)]
struct Pi30Args {
    /// The query the reply answers (QPIGS, QPIRI, QMOD, QPGS0, ...).
    query: String,
    /// The reply frame as hex ("28 50 49 ..." or "285049..."); several arguments are joined.
    #[arg(required = true, num_args = 1..)]
    reply_hex: Vec<String>,
    /// Firmware family, for the fields whose meaning differs.
    #[arg(long, value_enum, default_value_t = VariantArg::Pi30)]
    variant: VariantArg,
    /// Print each field as {"value", "unit", "raw"} instead of a bare value.
    #[arg(long)]
    units: bool,
    /// Accept a data reply without a valid CRC (only for firmware known to send none).
    #[arg(long)]
    allow_missing_crc: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum VariantArg {
    Pi30,
    Max,
}

#[derive(Debug, Args)]
struct VedirectArgs {
    /// The capture to read; "-" or nothing reads standard input.
    file: Option<PathBuf>,
    /// Print each field as {"value", "unit", "raw"} instead of a bare value.
    #[arg(long)]
    units: bool,
    /// Print text blocks with their raw labels and values instead of decoded fields.
    #[arg(long)]
    raw: bool,
}

fn main() -> ExitCode {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        // Colour only on a terminal: escape codes would clutter journald and log files.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_writer(io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sungate: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Decode(DecodeCommand::Pi30(args)) => decode_pi30(args),
        Command::Decode(DecodeCommand::Vedirect(args)) => decode_vedirect(args),
        Command::CheckConfig { file } => cli::run::check_config(&file),
        Command::Export {
            config,
            device,
            from,
            to,
            fields,
            format,
        } => cli::export::export(&config, &device, &from, to.as_deref(), &fields, format),
        Command::Run { config } => runtime()?.block_on(cli::run::run(&config)),
        Command::Query {
            port,
            protocol,
            baud,
            format,
            timeout,
            commands,
        } => runtime()?.block_on(cli::oneshot::query(
            &port,
            protocol,
            baud,
            &commands,
            format,
            seconds(timeout)?,
        )),
        Command::Set {
            port,
            protocol,
            baud,
            timeout,
            name,
            value,
        } => runtime()?.block_on(cli::oneshot::set(
            &port,
            protocol,
            baud,
            &name,
            &value,
            seconds(timeout)?,
        )),
        Command::Scan { probe } => runtime()?.block_on(cli::oneshot::scan(probe)),
        Command::Init(args) => runtime()?.block_on(cli::init::init(args)),
        Command::AddonConfig(args) => runtime()?.block_on(cli::init::addon::addon_config(args)),
        Command::Bridge { bmv, mppt, refresh } => {
            let config = cli::run::bridge_config(&bmv, &mppt, refresh)?;
            runtime()?.block_on(cli::run::run_config(config))
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            pty_dir,
            seconds,
            control,
            allow_remote_control,
            http,
            token_file,
        } => runtime()?.block_on(cli::run::demo(
            &pty_dir,
            seconds,
            control,
            allow_remote_control,
            http,
            token_file,
        )),
    }
}

/// One thread is plenty for a gateway that mostly waits on serial ports.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn seconds(s: f64) -> Result<Duration> {
    if !(s.is_finite() && s > 0.0 && s <= 60.0) {
        anyhow::bail!("timeout must be within (0, 60] seconds, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

fn style(units: bool) -> JsonStyle {
    if units {
        JsonStyle::WithUnits
    } else {
        JsonStyle::Plain
    }
}

fn decode_pi30(args: Pi30Args) -> Result<()> {
    let frame = sungate::hexdump::parse_hex_dump(&args.reply_hex.join(" "))
        .context("the reply is not a valid hex dump")?;
    let variant = match args.variant {
        VariantArg::Pi30 => Variant::Pi30,
        VariantArg::Max => Variant::Pi30Max,
    };
    let opts = DecodeOptions {
        allow_missing_crc: args.allow_missing_crc,
    };
    let json = decode::pi30_json(&args.query, &frame, variant, opts, style(args.units))
        .with_context(|| format!("cannot decode the reply to {}", args.query))?;
    let mut out = io::stdout().lock();
    ignore_broken_pipe(writeln!(out, "{json}").and_then(|()| out.flush()))
}

/// A reader that closed the pipe (`| head`) has what it wants: not an error.
fn ignore_broken_pipe(result: io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

fn decode_vedirect(args: VedirectArgs) -> Result<()> {
    let input: Box<dyn Read> = match &args.file {
        None => Box::new(io::stdin().lock()),
        Some(path) if path.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(path) => Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let options = decode::VedirectOptions {
        style: style(args.units),
        raw: args.raw,
    };
    let summary = decode::vedirect_stream(input, &mut out, options)?;
    ignore_broken_pipe(out.flush())?;
    eprintln!("{summary}");
    Ok(())
}
