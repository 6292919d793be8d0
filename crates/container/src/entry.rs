//! One container as berthd holds it: its record (what survives a restart of berthd) and what
//! lives only while berthd runs — the signal `wait` and `stop` watch, the lock that puts its
//! lifecycle operations one after another, the attaches waiting for its start, the back-off of
//! its restart policy. One entry per container, in one map ([`crate::record::Records`]), so
//! nothing keyed by a container's ID has to be kept in step with the records by hand: a
//! container's entry comes and goes with it.

use std::sync::Arc;

use tokio::sync::watch;

use crate::attach::Pending;
use crate::record::Container;
use crate::state::Backoff;

/// What `wait` and `stop` watch: how many times the container exited, how, and whether it is gone.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub exits: u64,
    pub exit_code: i32,
    pub error: Option<String>,
    pub removed: bool,
}

pub(crate) struct Entry {
    pub(crate) record: Container,
    pub(crate) progress: watch::Sender<Progress>,
    /// One lifecycle operation at a time (start, stop, remove, restart).
    pub(crate) op_lock: Arc<tokio::sync::Mutex<()>>,
    /// Attaches that came before the start (`docker run`), connected when it comes.
    pub(crate) pending_attach: Vec<Pending>,
    /// The restart policy's delay; reset by a start the user asks for.
    pub(crate) backoff: Backoff,
}

impl Entry {
    pub(crate) fn new(record: Container) -> Entry {
        Entry {
            record,
            progress: watch::channel(Progress::default()).0,
            op_lock: Arc::default(),
            pending_attach: Vec::new(),
            backoff: Backoff::default(),
        }
    }
}
