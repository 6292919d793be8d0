//! Containers: records and their state machine, names, json-file logs, restart policies.

pub mod names;
pub mod process;
pub mod state;
