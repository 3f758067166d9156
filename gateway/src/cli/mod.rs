//! The `sungate` subcommands other than `decode` (binary edge: errors are `anyhow`).

pub mod oneshot;
pub mod run;
