//! The `sungate` command line. Errors are reported with `anyhow` here, at the binary's edge only.

use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// summary (blocks ok, checksum failures, hex frames, bytes skipped) on stderr.
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
    tracing_subscriber::fmt()
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
    }
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
