//! The container service's operations, one per file, each an `impl ContainerService` block
//! named for the API call it answers. What they share lives in the service (`service.rs`:
//! the records and their entries), the bundle a start writes (`bundle.rs`), and what
//! follows an exit (`exits.rs`).

mod archive;
mod changes;
mod commit;
mod connect;
mod create;
mod exec;
mod health;
mod kill;
mod networks;
mod pause;
mod remove;
mod rename;
mod resize;
mod restart;
mod start;
mod stats;
mod stop;
mod top;
mod update;

pub use archive::CopyRoot;
pub use changes::ExportMount;
pub use commit::CommitOptions;
pub use exec::{ExecSession, ExecStartOptions};
pub(crate) use start::prime_cgroup_migration;
pub use stats::StatsSample;
