//! The `sungate` subcommands other than `decode` (binary edge: errors are `anyhow`).

pub mod export;
pub mod oneshot;
pub mod run;
