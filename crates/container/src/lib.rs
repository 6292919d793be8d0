//! Containers: records and their state machine, names, the lifecycle (start, stop, kill,
//! pause, restart policies, exits), attach, and events.

pub mod attach;
mod bundle;
pub mod config;
pub mod cp;
mod entry;
pub mod error;
pub mod events;
pub mod exec;
mod exits;
pub mod health;
pub mod names;
mod ops;
pub mod process;
pub mod record;
pub mod rootfs;
pub mod service;
pub mod signal;
mod spares;
pub mod state;
pub mod unsupported;

pub use config::{Config, CreateBody, HostConfig};
pub use entry::Progress;
pub use error::ContainerError;
pub use ops::{CommitOptions, CopyRoot, ExecSession, ExecStartOptions, ExportMount, StatsSample};
pub use record::{Container, Paths};
pub use service::{ContainerService, Runtimes};
