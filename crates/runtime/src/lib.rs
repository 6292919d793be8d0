//! Running containers: the OCI runtime spec, the per-container shim, the `Runtime` trait with
//! its builtin and OCI-CLI implementations, and cgroups.

pub mod builtin;
pub mod cgroups;
pub mod logfile;
pub mod ocicli;
pub mod runtime;
pub mod seccomp;
pub mod shim;
pub mod spec;
pub mod stats;
pub mod top;
