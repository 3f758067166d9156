//! sungate end-to-end test support.
