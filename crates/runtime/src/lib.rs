//! Running containers: the OCI runtime spec, the per-container shim, the `Runtime` trait with
//! its builtin and OCI-CLI implementations, and cgroups.

pub mod cgroups;
pub mod seccomp;
pub mod spec;
