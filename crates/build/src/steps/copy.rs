//! COPY, ADD and WORKDIR: files put into a container of the stage's image (never started)
//! through `docker cp`'s descriptor-relative extraction, then committed.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

use berth_image::Digest;

use super::copy_tar::{looks_like_archive, CopyTar, Ownership};
use crate::builder::{Builder, Output, Prepared, StageState};
use crate::cache::CacheKey;
use crate::dockerfile::{is_heredoc_word, Instruction};
use crate::instruction::{self, Flags};
use crate::BuildError;
use crate::{glob, glob_root};

/// One thing a COPY copies.
enum Source {
    /// A path in the source root (the context or a `--from` image).
    Path(String),
    /// A heredoc: its file name and content.
    Inline(String, String),
}

/// What the step copies, resolved.
struct CopyPlan {
    sources: Vec<Source>,
    dest: String,
    chown: Option<String>,
    chmod: Option<u32>,
    /// ADD unpacks local archives.
    unpack: bool,
}

fn join_workdir(workdir: &str, path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", workdir.trim_end_matches('/'))
    }
}

/// Go's `path.Clean` for an absolute path in the image.
fn clean_abs(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

fn is_dir(root: &OwnedFd, path: &str) -> bool {
    berth_container::cp::stat(root, path).is_ok_and(|s| s.mode & (1 << 31) != 0)
}

impl Builder {
    pub(crate) async fn copy_step(
        &self,
        p: &Prepared,
        st: &mut StageState,
        ins: &Instruction,
        done: &HashMap<usize, Digest>,
        out: &Output,
    ) -> Result<(), BuildError> {
        let kw = ins.keyword.as_str();
        let flags = Flags::parse(
            ins,
            &[
                "from",
                "chown",
                "chmod",
                "link",
                "parents",
                "exclude",
                "checksum",
                "keep-git-dir",
            ],
        )?;
        for unsupported in ["parents", "exclude", "checksum", "keep-git-dir"] {
            if !flags.all(unsupported).is_empty() {
                return Err(BuildError::Invalid(format!(
                    "{kw} --{unsupported} is not supported yet"
                )));
            }
        }
        let vars = st.vars();
        let from = flags.get("from", &vars, st.escape)?;
        if kw == "ADD" && from.is_some() {
            return Err(BuildError::Dockerfile(format!(
                "dockerfile parse error on line {}: Unknown flag: from",
                ins.line
            )));
        }
        flags.bool("link")?;
        let chmod = match flags.get("chmod", &vars, st.escape)? {
            Some(m) => Some(
                u32::from_str_radix(&m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| BuildError::Invalid(format!("invalid chmod parameter: {m}")))?,
            ),
            None => None,
        };
        let mut words = instruction::words(ins, &vars, st.escape)?;
        if words.len() < 2 {
            return Err(BuildError::Dockerfile(format!(
                "{kw} requires at least two arguments, but only one was provided. Destination could not be determined"
            )));
        }
        let dest_word = words.pop().expect("two words");
        let mut sources = Vec::new();
        // Wildcards in a `--from` source match in that image, once it is at hand.
        let mut globs = Vec::new();
        for w in words {
            if let Some(name) = is_heredoc_word(&w) {
                if let Some(h) = ins.heredocs.iter().find(|h| h.name == name) {
                    let content = if h.expand {
                        crate::shell::process_word(&h.content, &vars, st.escape)
                            .unwrap_or_else(|_| h.content.clone())
                    } else {
                        h.content.clone()
                    };
                    sources.push(Source::Inline(name, content));
                    continue;
                }
            }
            if ["http://", "https://", "git@", "git://"]
                .iter()
                .any(|s| w.starts_with(s))
            {
                return Err(BuildError::Invalid(format!(
                    "{kw} {w}: berth builds offline and does not fetch remote sources; put the file in the build context"
                )));
            }
            match &from {
                None => {
                    for s in p.context.sources(&w)? {
                        sources.push(Source::Path(s));
                    }
                }
                Some(_) if glob::has_meta(&w) => globs.push(w),
                Some(_) => sources.push(Source::Path(w.trim_start_matches('/').to_string())),
            }
        }
        // The source root: the context, or a container of the `--from` image.
        let from_root = match &from {
            None => None,
            Some(name) => {
                let image = self.image_named(p, name, done, out).await?;
                let wc = self.work_container(&image, &format!("{kw} --from"))?;
                match self.containers.copy_root(&wc).await {
                    Ok(root) => Some((wc, root)),
                    Err(e) => {
                        self.drop_container(&wc).await;
                        return Err(e.into());
                    }
                }
            }
        };
        let plan = match &from_root {
            Some((_, root)) => from_globs(&root.fd, &globs).map(|found| {
                sources.extend(found);
                sources
            }),
            None => Ok(sources),
        }
        .and_then(|sources| {
            let dest = join_workdir(&st.workdir(), &dest_word);
            if sources.len() > 1 && !dest.ends_with('/') {
                return Err(BuildError::Invalid(format!(
                    "When using {kw} with more than one source file, the destination must be a directory and end with a /"
                )));
            }
            Ok(CopyPlan {
                sources,
                dest,
                chown: flags.get("chown", &vars, st.escape)?,
                chmod,
                unpack: kw == "ADD",
            })
        });
        let result = match plan {
            Ok(plan) => {
                self.copy_into(
                    p,
                    st,
                    kw,
                    &plan,
                    from_root.as_ref().map(|(_, r)| &r.fd),
                    from.as_deref(),
                    out,
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Some((wc, root)) = from_root {
            drop(root);
            self.drop_container(&wc).await;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn copy_into(
        &self,
        p: &Prepared,
        st: &mut StageState,
        kw: &str,
        plan: &CopyPlan,
        from_root: Option<&OwnedFd>,
        from: Option<&str>,
        out: &Output,
    ) -> Result<(), BuildError> {
        let src_root = from_root.unwrap_or(p.context.root());
        let ignore = &p.context.ignore;
        let keep = |rel: &str| from.is_some() || !ignore.excludes(rel);
        // The key: the content as it would land with the destination as written.
        let provisional = build_tar(
            src_root,
            plan,
            &plan.dest,
            Ownership::default(),
            &keep,
            None,
        )?;
        let key = CacheKey::new(
            &st.image.to_string(),
            &[
                kw,
                &provisional.1,
                &plan.dest,
                plan.chown.as_deref().unwrap_or(""),
                &format!("{:?}", plan.chmod),
                from.unwrap_or(""),
            ],
        );
        let what = if plan.sources.len() == 1 {
            "file"
        } else {
            "multi"
        };
        let created_by = format!(
            "/bin/sh -c #(nop) {kw} {what}:{} in {} ",
            &provisional.1, plan.dest
        );
        if let Some(id) = self.cached(p, st, &key, &created_by, out).await {
            st.image = id;
            return Ok(());
        }
        let wc = self.work_container(&st.image, &format!("{kw} in {}", plan.dest))?;
        let result = match self.write_copy(&wc, src_root, plan, &keep).await {
            Ok(()) => self.commit_container(st, &wc, &created_by).await,
            Err(e) => Err(e),
        };
        self.drop_container(&wc).await;
        let id = result?;
        self.remember(&key, &id);
        st.image = id;
        Ok(())
    }

    /// Puts the plan's files into the container's filesystem.
    async fn write_copy(
        &self,
        wc: &str,
        src_root: &OwnedFd,
        plan: &CopyPlan,
        keep: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), BuildError> {
        let root = self.containers.copy_root(wc).await?;
        let own = match &plan.chown {
            None => Ownership::default(),
            Some(spec) => {
                let path =
                    std::path::PathBuf::from(format!("/proc/self/fd/{}", root.fd.as_raw_fd()));
                let u = berth_container::process::resolve_user(&path, spec).map_err(|e| {
                    BuildError::Invalid(format!(
                        "unable to convert uid/gid chown string to host mapping: {e}"
                    ))
                })?;
                Ownership {
                    uid: u.uid,
                    gid: if spec.contains(':') { u.gid } else { u.uid },
                    chmod: None,
                }
            }
        };
        let own = Ownership {
            chmod: plan.chmod,
            ..own
        };
        // A single file to a path that is a directory in the image goes inside it.
        let single_file = plan.sources.len() == 1
            && match &plan.sources[0] {
                Source::Path(s) => !is_dir(src_root, s),
                Source::Inline(..) => true,
            };
        let dest = if single_file && !plan.dest.ends_with('/') && is_dir(&root.fd, &plan.dest) {
            format!("{}/", plan.dest)
        } else {
            plan.dest.clone()
        };
        let (bytes, _) = build_tar(src_root, plan, &dest, own, keep, Some(&root.fd))?;
        root.extract(
            "/",
            &bytes[..],
            berth_container::cp::ExtractOptions {
                no_overwrite_dir_non_dir: false,
                copy_uid_gid: true,
            },
        )?;
        Ok(())
    }

    pub(crate) async fn workdir_step(
        &self,
        p: &Prepared,
        st: &mut StageState,
        ins: &Instruction,
        out: &Output,
    ) -> Result<(), BuildError> {
        Flags::parse(ins, &[])?;
        let word = crate::shell::process_word(&ins.args, &st.vars(), st.escape)?;
        if word.is_empty() {
            return Err(BuildError::Dockerfile(
                "WORKDIR requires exactly one argument".into(),
            ));
        }
        let path = clean_abs(&join_workdir(&st.workdir(), &word));
        st.config["WorkingDir"] = serde_json::json!(path);
        let key = CacheKey::new(&st.image.to_string(), &["WORKDIR", &path]);
        let created_by = format!("/bin/sh -c #(nop) WORKDIR {path}");
        if let Some(id) = self.cached(p, st, &key, &created_by, out).await {
            st.image = id;
            return Ok(());
        }
        let wc = self.work_container(&st.image, &format!("WORKDIR {path}"))?;
        let made = async {
            let root = self.containers.copy_root(&wc).await?;
            if is_dir(&root.fd, &path) {
                return Ok::<bool, BuildError>(false);
            }
            let mut tar = CopyTar::default();
            add_missing_dirs(&mut tar, &root.fd, &path, Ownership::default())?;
            let (bytes, _) = tar.finish()?;
            root.extract(
                "/",
                &bytes[..],
                berth_container::cp::ExtractOptions {
                    no_overwrite_dir_non_dir: false,
                    copy_uid_gid: true,
                },
            )?;
            Ok(true)
        }
        .await;
        let id = match made {
            Ok(true) => self.commit_container(st, &wc, &created_by).await,
            Ok(false) => self.commit_config(st, &created_by),
            Err(e) => Err(e),
        };
        self.drop_container(&wc).await;
        let id = id?;
        self.remember(&key, &id);
        st.image = id;
        Ok(())
    }
}

/// Dir entries for the parts of `path` the image lacks (all of them when `root` is `None`).
fn add_missing_dirs(
    tar: &mut CopyTar,
    root: &OwnedFd,
    path: &str,
    own: Ownership,
) -> std::io::Result<()> {
    let mut at = String::new();
    for part in path.split('/').filter(|s| !s.is_empty()) {
        at.push('/');
        at.push_str(part);
        if berth_container::cp::stat(root, &at).is_err() {
            tar.add_dir(&at, own)?;
        }
    }
    Ok(())
}

/// The step's tar: the destination's missing parents (when the image's root is given), then
/// each source where it lands. Returns the bytes and the content digest.
fn build_tar(
    src_root: &OwnedFd,
    plan: &CopyPlan,
    dest: &str,
    own: Ownership,
    keep: &(dyn Fn(&str) -> bool + Sync),
    image_root: Option<&OwnedFd>,
) -> Result<(Vec<u8>, String), BuildError> {
    let mut tar = CopyTar::default();
    let into_dir = dest.ends_with('/');
    let dest_clean = clean_abs(dest);
    if let Some(root) = image_root {
        let parent_of = |p: &str| {
            p.rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default()
        };
        let dirs_needed = if into_dir
            || plan
                .sources
                .iter()
                .any(|s| matches!(s, Source::Path(p) if is_dir(src_root, p)))
        {
            dest_clean.clone()
        } else {
            parent_of(&dest_clean)
        };
        let dir_own = Ownership { chmod: None, ..own };
        add_missing_dirs(&mut tar, root, &dirs_needed, dir_own)?;
    }
    for s in &plan.sources {
        match s {
            Source::Inline(name, content) => {
                let target = if into_dir {
                    format!("{}/{name}", dest_clean.trim_end_matches('/'))
                } else {
                    dest_clean.clone()
                };
                tar.add_file(&target, content.as_bytes(), own)?;
            }
            Source::Path(path) => {
                if plan.unpack && !is_dir(src_root, path) {
                    if let Some(file) = open_file(src_root, path)? {
                        let mut head = [0u8; 512];
                        let n = read_head(&file, &mut head)?;
                        if looks_like_archive(&head[..n]) {
                            let f = open_file(src_root, path)?.expect("just opened");
                            tar.add_archive(f, &dest_clean)?;
                            continue;
                        }
                    }
                }
                let base = path.rsplit('/').next().unwrap_or(path);
                let target = if is_dir(src_root, path) {
                    dest_clean.clone()
                } else if into_dir {
                    format!("{}/{base}", dest_clean.trim_end_matches('/'))
                } else {
                    dest_clean.clone()
                };
                tar.add_source(src_root, path, &target, own, keep)?;
            }
        }
    }
    Ok(tar.finish()?)
}

/// The paths a `--from` source's wildcards match in that image; none is dockerd's error.
fn from_globs(root: &OwnedFd, globs: &[String]) -> Result<Vec<Source>, BuildError> {
    let mut out = Vec::new();
    for g in globs {
        let found = glob_root::in_root(root, g).map_err(|e| match e {
            glob_root::GlobError::Pattern(_) => {
                BuildError::Invalid(format!("invalid pattern {g:?}"))
            }
            glob_root::GlobError::Io(e) => e.into(),
        })?;
        if found.is_empty() {
            return Err(BuildError::Invalid(format!(
                "failed to compute cache key: no source files were specified for {g}"
            )));
        }
        out.extend(found.into_iter().map(Source::Path));
    }
    Ok(out)
}

/// The digest of the content under `path` in `root`, as COPY keys its sources.
pub(super) fn content_digest(root: &OwnedFd, path: &str) -> Result<String, BuildError> {
    let plan = CopyPlan {
        sources: vec![Source::Path(path.trim_start_matches('/').to_string())],
        dest: "/".into(),
        chown: None,
        chmod: None,
        unpack: false,
    };
    Ok(build_tar(root, &plan, "/", Ownership::default(), &|_| true, None)?.1)
}

fn open_file(root: &OwnedFd, path: &str) -> std::io::Result<Option<std::fs::File>> {
    let fd = berth_volume::tree::open_in_root(
        root,
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
    )?;
    Ok(fd.map(std::fs::File::from))
}

fn read_head(mut f: &std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}
