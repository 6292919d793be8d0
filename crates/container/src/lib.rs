//! Containers: records and their state machine, names, json-file logs, restart policies.
//!
//! So far only naming is here; running containers comes with the runtime and shim.

pub mod names;
