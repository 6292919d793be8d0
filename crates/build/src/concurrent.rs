//! Stages that do not need each other build at once, as BuildKit builds them, while the output
//! still reads as the classic builder's: each stage writes to its own channel, and its lines
//! reach the client only once every stage before it has printed its own, so the steps come in
//! the order and with the numbers the Dockerfile gives them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_image::progress::JsonMessage;
use berth_image::Digest;
use tokio::sync::{mpsc, watch};

use crate::builder::{short, Builder, Output, Prepared};
use crate::BuildError;

/// How far a stage is: building (`None`), built, or failed (or never started).
type Outcome = Option<Option<Digest>>;

/// What a stage leaves: its image and the ARGs it declared (for the unused build-arg warning).
pub(crate) struct StageBuilt {
    pub image: Digest,
    pub args: Vec<String>,
}

/// Why a stage stopped without an error of its own: one it needs failed, or another stage did
/// and the build is being ended.
struct Cancelled;

impl Builder {
    /// Builds the stages the target needs, each as soon as the stages it needs are built.
    /// Returns every stage's image and the ARGs they declared; on a failure, the first failing
    /// stage's error after the others have stopped at their next step.
    pub(crate) async fn build_stages(
        self: &Arc<Self>,
        p: &Arc<Prepared>,
        out: &Output,
    ) -> Result<(HashMap<usize, Digest>, Vec<String>), BuildError> {
        let needed = p.plan.needed();
        let total: usize = needed
            .iter()
            .map(|&i| 1 + p.plan.stages[i].instructions.len())
            .sum();
        let stop = Arc::new(AtomicBool::new(false));
        let mut outcomes: HashMap<usize, watch::Receiver<Outcome>> = HashMap::new();
        let mut stages = Vec::new();
        let mut step = 0;
        for &si in &needed {
            let (tx, rx) = mpsc::channel(256);
            let (done_tx, done_rx) = watch::channel(None);
            let deps: Vec<(usize, watch::Receiver<Outcome>)> = p
                .plan
                .deps(si)
                .into_iter()
                .map(|d| (d, outcomes[&d].clone()))
                .collect();
            outcomes.insert(si, done_rx);
            let first_step = step + 1;
            step += 1 + p.plan.stages[si].instructions.len();
            let (this, p, stop) = (self.clone(), p.clone(), stop.clone());
            let stage_out = out.to(tx);
            let task = tokio::spawn(async move {
                let result = match wait_for(deps).await {
                    Some(done) => {
                        let steps = Steps {
                            first: first_step,
                            total,
                            stop: &stop,
                        };
                        this.build_stage(&p, si, steps, &done, &stage_out).await
                    }
                    None => Err(None),
                };
                match &result {
                    Ok(built) => done_tx.send_replace(Some(Some(built.image.clone()))),
                    Err(_) => {
                        stop.store(true, Ordering::SeqCst);
                        done_tx.send_replace(Some(None))
                    }
                };
                result
            });
            stages.push((si, rx, task));
        }
        self.collect(stages, out).await
    }

    /// Forwards the stages' output in stage order and gathers their results. Output stops
    /// after the first stage that failed on its own, whose error the build ends with.
    async fn collect(
        &self,
        stages: Vec<(usize, mpsc::Receiver<JsonMessage>, StageTask)>,
        out: &Output,
    ) -> Result<(HashMap<usize, Digest>, Vec<String>), BuildError> {
        let mut images = HashMap::new();
        let mut args = Vec::new();
        let mut failure: Option<BuildError> = None;
        for (si, mut rx, task) in stages {
            if failure.is_none() {
                while let Some(m) = rx.recv().await {
                    out.forward(m).await;
                }
            }
            drop(rx);
            let result = task
                .await
                .map_err(|e| BuildError::Failed(format!("a build stage ended: {e}")))?;
            match result {
                Ok(built) => {
                    images.insert(si, built.image);
                    args.extend(built.args);
                }
                Err(Some(e)) if failure.is_none() => failure = Some(e),
                Err(_) => {}
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok((images, args)),
        }
    }

    /// One stage: its FROM, its base's triggers and its instructions, stopping before a step
    /// once another stage has failed.
    async fn build_stage(
        &self,
        p: &Prepared,
        si: usize,
        steps: Steps<'_>,
        done: &HashMap<usize, Digest>,
        out: &Output,
    ) -> Result<StageBuilt, Option<BuildError>> {
        let stage = &p.plan.stages[si];
        let mut step = steps.first;
        out.line(format!(
            "Step {step}/{} : {}\n",
            steps.total, stage.from.original
        ))
        .await;
        let mut st = self.start_stage(p, si, done, out).await?;
        out.line(format!(" ---> {}\n", short(&st.image))).await;
        self.run_triggers(p, &mut st, done, out).await?;
        for ins in &stage.instructions {
            steps.check()?;
            step += 1;
            out.line(format!("Step {step}/{} : {}\n", steps.total, ins.original))
                .await;
            self.dispatch(p, &mut st, ins, done, out).await?;
            out.line(format!(" ---> {}\n", short(&st.image))).await;
        }
        Ok(StageBuilt {
            image: st.image,
            args: st.args.into_iter().map(|(k, _)| k).collect(),
        })
    }
}

type StageTask = tokio::task::JoinHandle<Result<StageBuilt, Option<BuildError>>>;

/// A stage's place in the step count, and the build's stop flag.
struct Steps<'a> {
    first: usize,
    total: usize,
    stop: &'a AtomicBool,
}

impl Steps<'_> {
    fn check(&self) -> Result<(), Cancelled> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(Cancelled);
        }
        Ok(())
    }
}

impl From<Cancelled> for Option<BuildError> {
    fn from(_: Cancelled) -> Self {
        None
    }
}

/// Waits for the stages a stage needs; their images by stage, or `None` if one failed.
async fn wait_for(deps: Vec<(usize, watch::Receiver<Outcome>)>) -> Option<HashMap<usize, Digest>> {
    let mut done = HashMap::new();
    for (d, mut rx) in deps {
        let outcome = rx.wait_for(Option::is_some).await.ok()?.clone();
        done.insert(d, outcome.flatten()?);
    }
    Some(done)
}
