//! `berth build --progress=auto` on a terminal: the classic builder's step stream drawn as
//! BuildKit draws a build. One line per step with its time, `CACHED` for a cache hit; the
//! running step shows the last lines of its output under it, and they fold away when it
//! ends. A failing step's whole output is printed after the display. Elsewhere (a pipe,
//! `--progress=plain`) the stream is printed as it comes.

use std::io::Write;
use std::time::{Duration, Instant};

use berth_image::progress::JsonMessage;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::progress::StreamError;

/// How many of the running step's last output lines are shown.
const TAIL: usize = 6;

#[derive(Debug, Default)]
struct Step {
    /// `[k/M] INSTRUCTION args`.
    title: String,
    output: Vec<String>,
    cached: bool,
    started: Duration,
    ended: Option<Duration>,
}

/// What the stream has said so far, in steps.
#[derive(Debug, Default)]
pub struct BuildView {
    steps: Vec<Step>,
    /// A line not yet ended by a newline.
    partial: String,
    /// What comes after the last step: `Successfully built …`, `Successfully tagged …`.
    trailer: Vec<String>,
    failed: bool,
}

impl BuildView {
    /// Takes a chunk of the stream's text at `now` since the build began.
    pub fn text(&mut self, chunk: &str, now: Duration) {
        self.partial.push_str(chunk);
        while let Some(pos) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=pos).collect();
            self.line(line.trim_end_matches('\n'), now);
        }
    }

    fn line(&mut self, line: &str, now: Duration) {
        if let Some(rest) = line.strip_prefix("Step ") {
            if let Some((count, instruction)) = rest.split_once(" : ") {
                if let Some(last) = self.steps.last_mut() {
                    last.ended.get_or_insert(now);
                }
                self.steps.push(Step {
                    title: format!("[{count}] {instruction}"),
                    started: now,
                    ..Default::default()
                });
                return;
            }
        }
        if line.starts_with("Successfully ") {
            if let Some(last) = self.steps.last_mut() {
                last.ended.get_or_insert(now);
            }
            self.trailer.push(line.to_string());
            return;
        }
        let Some(step) = self.steps.last_mut() else {
            self.trailer.push(line.to_string());
            return;
        };
        match line.strip_prefix(" ---> ") {
            Some("Using cache") => step.cached = true,
            // The builder's own notes: the container a step runs in, the image it made.
            Some(_) => {}
            None => step.output.push(line.to_string()),
        }
    }

    /// The build ended, in error when `failed`.
    pub fn finish(&mut self, now: Duration, failed: bool) {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.line(&rest, now);
        }
        self.failed = failed;
        if let Some(last) = self.steps.last_mut() {
            last.ended.get_or_insert(now);
        }
    }

    /// The display's lines at `now`.
    pub fn frame(&self, now: Duration, width: usize) -> Vec<String> {
        let done = self.steps.iter().filter(|s| s.ended.is_some()).count();
        let total = self
            .steps
            .last()
            .and_then(|s| s.title[1..].split(']').next())
            .and_then(|c| c.split('/').nth(1))
            .unwrap_or("?");
        let finished = self.steps.last().is_some_and(|s| s.ended.is_some());
        let state = match (finished, self.failed) {
            (true, true) => " ERROR",
            (true, false) => " FINISHED",
            _ => "",
        };
        let mut out = vec![format!(
            "[+] Building {:.1}s ({done}/{total}){state}",
            now.as_secs_f64()
        )];
        for (i, s) in self.steps.iter().enumerate() {
            let failed_here = self.failed && i + 1 == self.steps.len();
            let mark = match (s.cached, failed_here) {
                (_, true) => "ERROR ",
                (true, _) => "CACHED ",
                _ => "",
            };
            let secs = s.ended.unwrap_or(now).saturating_sub(s.started);
            out.push(fit(
                &format!(" => {mark}{}", s.title),
                &format!("{:.1}s", secs.as_secs_f64()),
                width,
            ));
            if s.ended.is_none() {
                let from = s.output.len().saturating_sub(TAIL);
                for l in &s.output[from..] {
                    out.push(clip(&format!(" => => # {l}"), width));
                }
            }
        }
        out
    }

    /// What is printed under the display once it is done: the failing step's output in
    /// BuildKit's frame, then the builder's closing lines.
    pub fn epilogue(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let (true, Some(s)) = (self.failed, self.steps.last()) {
            out.push("------".into());
            out.push(format!(" > {}:", s.title));
            out.extend(s.output.iter().cloned());
            out.push("------".into());
        }
        out.extend(self.trailer.iter().cloned());
        out
    }
}

/// `left`, padded so that `right` ends at the display's right edge.
fn fit(left: &str, right: &str, width: usize) -> String {
    let room = width.saturating_sub(right.len() + 1).max(10);
    let left = clip(left, room);
    let pad = room.saturating_sub(left.chars().count());
    format!("{left}{} {right}", " ".repeat(pad))
}

fn clip(s: &str, width: usize) -> String {
    s.chars().take(width.max(1)).collect()
}

/// Reads the build's stream to its end, redrawing the display as it goes; returns the `aux`
/// values seen, and the first in-band error as `Err` after the display shows it.
pub async fn show(
    body: Incoming,
    out: &mut impl Write,
    width: usize,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let start = Instant::now();
    let mut view = BuildView::default();
    let mut drawn = 0;
    let mut aux = Vec::new();
    let mut buf = Vec::new();
    let mut body = body;
    let mut error = None;
    'read: while let Some(frame) = body.frame().await {
        let Some(data) = frame?.data_ref().cloned() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line);
            if text.trim().is_empty() {
                continue;
            }
            let m: JsonMessage = serde_json::from_str(text.trim())?;
            if let Some(e) = m.error_detail.map(|d| d.message).or(m.error) {
                error = Some(e);
                break 'read;
            }
            if let Some(a) = m.aux {
                aux.push(a);
            } else if let Some(s) = m.stream {
                view.text(&s, start.elapsed());
            } else if let (Some(status), None) = (m.status, m.progress_detail) {
                // A base image's pull, without its progress bars.
                let id = m.id.map(|i| format!("{i}: ")).unwrap_or_default();
                view.text(&format!("{id}{status}\n"), start.elapsed());
            }
            drawn = redraw(out, &view.frame(start.elapsed(), width), drawn)?;
        }
    }
    view.finish(start.elapsed(), error.is_some());
    redraw(out, &view.frame(start.elapsed(), width), drawn)?;
    for l in view.epilogue() {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    match error {
        Some(e) => Err(StreamError(e).into()),
        None => Ok(aux),
    }
}

/// Replaces the `drawn` lines last written with `lines`; returns how many are on screen.
fn redraw(out: &mut impl Write, lines: &[String], drawn: usize) -> std::io::Result<usize> {
    if drawn > 0 {
        write!(out, "\x1b[{drawn}A")?;
    }
    for l in lines {
        write!(out, "\r\x1b[2K{l}\n")?;
    }
    // A shorter frame leaves old lines under it: clear them.
    write!(out, "\x1b[J")?;
    out.flush()?;
    Ok(lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn steps_fold_their_output_when_they_end() {
        let mut v = BuildView::default();
        v.text("Step 1/3 : FROM busybox\n ---> abc\n", ms(0));
        v.text("Step 2/3 : ENV A=1\n ---> Using cache\n ---> def\n", ms(10));
        v.text("Step 3/3 : RUN seq 10\n ---> Running in 123\n", ms(20));
        for i in 1..=10 {
            v.text(&format!("{i}\n"), ms(30));
        }
        let f = v.frame(ms(500), 60);
        assert!(f[0].starts_with("[+] Building 0.5s (2/3)"), "{f:?}");
        assert!(f[1].starts_with(" => [1/3] FROM busybox") && f[1].ends_with(" 0.0s"));
        assert!(f[2].starts_with(" => CACHED [2/3] ENV A=1"), "{f:?}");
        assert!(f[3].starts_with(" => [3/3] RUN seq 10"));
        // The running step's last six lines, not the builder's notes.
        let tail: Vec<&str> = f[4..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                " => => # 5",
                " => => # 6",
                " => => # 7",
                " => => # 8",
                " => => # 9",
                " => => # 10"
            ]
        );
        v.text(
            " ---> 456\nSuccessfully built 456\nSuccessfully tagged x:latest\n",
            ms(600),
        );
        v.finish(ms(600), false);
        let f = v.frame(ms(600), 60);
        assert_eq!(f.len(), 4, "folded: {f:?}");
        assert!(f[0].ends_with("(3/3) FINISHED"), "{f:?}");
        assert!(f[3].ends_with(" 0.6s"), "{f:?}");
        assert_eq!(
            v.epilogue(),
            ["Successfully built 456", "Successfully tagged x:latest"]
        );
    }

    #[test]
    fn a_failed_step_shows_its_whole_output() {
        let mut v = BuildView::default();
        v.text(
            "Step 1/2 : FROM busybox\n ---> abc\nStep 2/2 : RUN false\n",
            ms(0),
        );
        v.text("one\ntwo", ms(5));
        v.finish(ms(9), true);
        let f = v.frame(ms(9), 80);
        assert!(f[0].ends_with("(2/2) ERROR"), "{f:?}");
        assert!(f[2].starts_with(" => ERROR [2/2] RUN false"), "{f:?}");
        assert_eq!(
            v.epilogue(),
            ["------", " > [2/2] RUN false:", "one", "two", "------"]
        );
    }

    #[test]
    fn long_lines_fit_the_terminal() {
        let line = fit(" => [1/1] RUN a very long command indeed", "1.0s", 24);
        assert_eq!(line.chars().count(), 24);
        assert!(line.ends_with(" 1.0s"));
    }
}
