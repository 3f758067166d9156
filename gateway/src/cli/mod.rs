//! The `sungate` subcommands other than `decode` (binary edge: errors are `anyhow`).

#[cfg(feature = "demo")]
pub mod backfill;
pub mod export;
pub mod init;
pub mod oneshot;
pub mod run;
