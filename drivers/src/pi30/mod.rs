//! Voltronic "PI30" ASCII protocol (Axpert, MPP Solar, Easun, SKYMAX ...).
pub mod codec;
pub mod commands;
pub mod fields;
