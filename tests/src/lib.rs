//! sungate end-to-end test support: [`harness`] runs the real binaries as children (shared with
//! the gateway's end-to-end tests), [`soak`] is the acceptance soak behind `sungate-soak`.

pub mod harness;
pub mod soak;
