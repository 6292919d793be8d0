//! What a start takes ready-made rather than makes: a shim already started and waiting for its
//! config, and a network namespace. Making them (an exec of berthd and its start-up; a
//! namespace, which takes the kernel about a millisecond) is done when berthd starts and at
//! each create (a start usually follows), at idle priority so that it delays no one.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_network::netns::SparePool;
use berth_runtime::shim::client::{self as shim_client, ShimError, StartingShim};

use crate::record::Paths;

pub struct Spares {
    exe: PathBuf,
    run_dir: PathBuf,
    sockets: PathBuf,
    shim: Mutex<Option<StartingShim>>,
    pub(crate) netns: SparePool,
}

impl Spares {
    /// Spares for shims of `exe` whose state dirs are in `paths.run` and sockets in
    /// `paths.sockets`, and namespaces bound in `paths.netns` (where spares a killed berthd
    /// left are released now).
    pub fn new(exe: &std::path::Path, paths: &Paths) -> Spares {
        shim_client::remove_spare_sockets(&paths.sockets);
        Spares {
            exe: exe.to_path_buf(),
            run_dir: paths.run.clone(),
            sockets: paths.sockets.clone(),
            shim: Mutex::new(None),
            netns: SparePool::new(&paths.netns, 1),
        }
    }

    /// Makes whatever is missing, on a thread of its own at idle priority (SCHED_IDLE, which
    /// the spare shim inherits until it has started up): the work only takes CPU time nothing
    /// else wants, so it never slows the create or start it runs beside. A start never waits
    /// on it: the spare shim it takes is put back at normal priority, and a namespace not
    /// ready yet is made by the start itself. Nothing when all is ready.
    pub fn make(self: &Arc<Self>) {
        if self.shim.lock().unwrap().is_some() && self.netns.is_full() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let spares = self.clone();
        let made = std::thread::Builder::new()
            .name("spares".into())
            .spawn(move || {
                let _rt = rt.enter();
                set_idle_priority();
                // Not started under the lock: a start must never wait on this thread.
                if spares.shim.lock().unwrap().is_none() {
                    match shim_client::start(&spares.exe, &spares.run_dir, &spares.sockets) {
                        Ok(s) => {
                            let mut shim = spares.shim.lock().unwrap();
                            if shim.is_none() {
                                *shim = Some(s);
                            } else {
                                s.discard();
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "starting a spare shim"),
                    }
                }
                if let Err(e) = spares.netns.refill() {
                    tracing::warn!(error = %e, "making a spare network namespace");
                }
            });
        if let Err(e) = made {
            tracing::warn!(error = %e, "starting the spares thread");
        }
    }

    /// The spare shim if it is still there, else a new one; and whether it was the spare.
    pub fn take_shim(&self) -> Result<(StartingShim, bool), ShimError> {
        let spare = self.shim.lock().unwrap().take();
        if let Some(mut s) = spare {
            if s.is_alive() {
                s.to_normal_priority();
                return Ok((s, true));
            }
            s.discard();
        }
        Ok((self.new_shim()?, false))
    }

    /// A shim started now.
    pub fn new_shim(&self) -> Result<StartingShim, ShimError> {
        shim_client::start(&self.exe, &self.run_dir, &self.sockets)
    }

    /// Lets the spares go: the shim ends with its stdin, the namespace is unmounted. For a
    /// stopped berthd to leave nothing of its own behind.
    pub fn release(&self) {
        if let Some(s) = self.shim.lock().unwrap().take() {
            s.discard();
        }
        self.netns.drain();
    }
}

/// Puts the calling thread at SCHED_IDLE. Failing that, it stays as it was: spares are then
/// made at normal priority, which is only slower for whoever runs beside.
fn set_idle_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler on the calling thread (0) with a valid sched_param.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
}
