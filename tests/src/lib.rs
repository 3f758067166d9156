//! sungate end-to-end test support: [`harness`] runs the real binaries as children (shared with
//! the gateway's end-to-end tests).

pub mod harness;
