//! `docker build` (the classic builder: this docker CLI has no buildx) and `berth build`
//! against berthd: the Dockerfile language, stages, the context, the cache, and bad input.

use berth_tests::Daemon;

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

fn path(t: &tempfile::TempDir) -> &str {
    t.path().to_str().unwrap()
}

fn inspect(d: &Daemon, what: &str, format: &str) -> String {
    d.docker(&["image", "inspect", "-f", format, what])
        .ok()
        .stdout
        .trim()
        .to_string()
}

/// Containers left on the daemon (build containers included).
fn containers(d: &Daemon) -> String {
    d.docker(&["ps", "-aq"]).ok().stdout
}

#[test]
fn a_six_step_dockerfile_builds_runs_and_rebuilds_from_cache() {
    let (mut d, _reg) = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nENV GREETING=hello APP=/app\nWORKDIR $APP\nCOPY hello.txt ./\nRUN echo \"$GREETING from run\" > run.txt && cat hello.txt\nCMD [\"cat\", \"/app/run.txt\"]\n",
        ),
        ("hello.txt", "hi there\n"),
    ]);
    let out = d.docker(&["build", "-t", "six:1", path(&ctx)]).ok();
    for want in [
        "Step 1/6 : FROM busybox",
        "Step 5/6 : RUN echo",
        " ---> Running in ",
        "hi there\n",
        " ---> Removed intermediate container ",
        "Successfully built ",
        "Successfully tagged six:1",
    ] {
        assert!(out.stdout.contains(want), "{want:?} in {}", out.stdout);
    }
    let run = d.docker(&["run", "--rm", "six:1"]).ok();
    assert_eq!(run.stdout, "hello from run\n");
    assert_eq!(inspect(&d, "six:1", "{{.Config.WorkingDir}}"), "/app");
    assert!(containers(&d).is_empty(), "build containers are removed");
    // History shows the steps; image ls hides the intermediate images unless -a.
    let hist = d.docker(&["history", "--no-trunc", "six:1"]).ok().stdout;
    assert!(
        hist.contains("/bin/sh -c #(nop)  ENV GREETING=hello APP=/app"),
        "{hist}"
    );
    assert!(hist.contains("echo \"$GREETING from run\""), "{hist}");
    let ls = d.docker(&["image", "ls", "-q"]).ok().stdout;
    let all = d.docker(&["image", "ls", "-aq"]).ok().stdout;
    let unique: std::collections::BTreeSet<&str> = ls.lines().collect();
    assert_eq!(unique.len(), 2, "busybox and six:1 only: {ls}");
    assert!(all.lines().count() >= 7, "{all}");
    assert!(d
        .docker(&["image", "ls", "-q", "--filter", "dangling=true"])
        .ok()
        .stdout
        .is_empty());

    // Everything from cache, the same image; and again after a restart of berthd.
    let id = inspect(&d, "six:1", "{{.Id}}");
    let again = d.docker(&["build", "-t", "six:1", path(&ctx)]).ok();
    assert_eq!(
        again.stdout.matches(" ---> Using cache").count(),
        5,
        "{}",
        again.stdout
    );
    assert_eq!(inspect(&d, "six:1", "{{.Id}}"), id);
    d.restart();
    let after = d.berth(&["build", "-q", path(&ctx)]).ok();
    assert_eq!(after.stdout.trim(), id);
    // A changed file misses from its COPY on; --no-cache misses everywhere.
    std::fs::write(ctx.path().join("hello.txt"), "changed\n").unwrap();
    let changed = d.docker(&["build", "-t", "six:2", path(&ctx)]).ok();
    assert_eq!(
        changed.stdout.matches("Using cache").count(),
        2,
        "{}",
        changed.stdout
    );
    assert!(changed.stdout.contains("changed\n"));
    let cold = d.docker(&["build", "--no-cache", path(&ctx)]).ok();
    assert!(!cold.stdout.contains("Using cache"), "{}", cold.stdout);

    // The cache shows in df and goes with builder prune; the tagged images stay.
    let df = d.docker(&["system", "df"]).ok().stdout;
    assert!(df.contains("Build Cache"), "{df}");
    let pruned = d.docker(&["builder", "prune", "-a", "-f"]).ok();
    assert!(
        pruned.stdout.contains("Total reclaimed space"),
        "{}",
        pruned.stdout
    );
    d.docker(&["run", "--rm", "six:2"]).ok();
    let rebuilt = d.docker(&["build", "-t", "six:2", path(&ctx)]).ok();
    assert!(
        !rebuilt.stdout.contains("Using cache"),
        "{}",
        rebuilt.stdout
    );
    d.berth(&["builder", "prune", "-f"]).ok();
}

#[test]
fn independent_stages_build_at_once_and_print_in_order() {
    let (d, _reg) = Daemon::with_busybox();
    // Each of the two stages waits (up to 20 s) for the other's mark in a cache mount they
    // share: built one after the other, the first would give up and fail.
    let wait_for = |mine: &str, theirs: &str| {
        format!(
            "RUN --mount=type=cache,id=meet,target=/meet touch /meet/{mine}-$NONCE && \\\n  \
             for i in $(seq 200); do [ -e /meet/{theirs}-$NONCE ] && exit 0; sleep 0.1; done; exit 1\n"
        )
    };
    let df = format!(
        "FROM busybox AS left\nARG NONCE\n{}RUN echo left > /made\n\
         FROM busybox AS right\nARG NONCE\n{}RUN echo right > /made\n\
         FROM busybox\nCOPY --from=left /made /left\nCOPY --from=right /made /right\nCMD cat /left /right\n",
        wait_for("left", "right"),
        wait_for("right", "left"),
    );
    let ctx = context(&[("Dockerfile", &df)]);
    let nonce = std::process::id().to_string();
    let out = d
        .docker(&[
            "build",
            "--build-arg",
            &format!("NONCE={nonce}"),
            "-t",
            "both",
            path(&ctx),
        ])
        .ok();
    // The classic output, stage by stage: every step once, in order.
    let steps: Vec<usize> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Step ")?.split('/').next()?.parse().ok())
        .collect();
    assert_eq!(steps, (1..=12).collect::<Vec<_>>(), "{}", out.stdout);
    assert_eq!(
        d.docker(&["run", "--rm", "both"]).ok().stdout,
        "left\nright\n"
    );
    // A stage that fails ends the build with its error; the other stops, nothing is tagged.
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS slow\nRUN sleep 1\nRUN touch /never\n\
         FROM busybox AS broken\nRUN exit 7\n\
         FROM busybox\nCOPY --from=slow /never /\nCOPY --from=broken /etc/passwd /\n",
    )]);
    let out = d.docker(&["build", "-t", "half", path(&ctx)]);
    assert_eq!(out.code, 7, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("The command '/bin/sh -c exit 7' returned a non-zero code: 7"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("touch /never"), "{}", out.stdout);
    assert_ne!(d.docker(&["image", "inspect", "half"]).code, 0);
    assert!(
        containers(&d).lines().count() <= 1,
        "only the failed step's container"
    );
}

#[test]
fn stages_targets_and_copies_between_them() {
    let (d, _reg) = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "ARG BASE=busybox\n\
         FROM $BASE AS tools\n\
         RUN mkdir -p /out && echo tool > /out/tool.txt\n\
         FROM busybox AS never\n\
         RUN echo this stage is not needed; exit 1\n\
         FROM tools AS build\n\
         RUN echo built > /out/built.txt\n\
         FROM busybox\n\
         COPY --from=build /out /collected/\n\
         COPY --from=busybox /bin/busybox /bb/busybox\n\
         COPY --from=build /out/*.txt /o?t/b*.txt /globbed/\n\
         CMD cat /collected/tool.txt /collected/built.txt\n",
    )]);
    let out = d.docker(&["build", "-t", "staged", path(&ctx)]).ok();
    assert!(!out.stdout.contains("not needed"), "{}", out.stdout);
    let run = d.docker(&["run", "--rm", "staged"]).ok();
    assert_eq!(run.stdout, "tool\nbuilt\n");
    d.docker(&["run", "--rm", "staged", "/bb/busybox", "true"])
        .ok();
    let globbed = d.docker(&["run", "--rm", "staged", "ls", "/globbed"]).ok();
    assert_eq!(globbed.stdout, "built.txt\ntool.txt\n");
    let none = context(&[(
        "Dockerfile",
        "FROM busybox\nCOPY --from=busybox /bin/nothing* /x/\n",
    )]);
    let out = d.docker(&["build", path(&none)]);
    assert!(
        out.stderr.contains("no source files were specified"),
        "{}",
        out.stderr
    );
    // --target builds up to a stage.
    d.docker(&["build", "--target", "tools", "-t", "tools-only", path(&ctx)])
        .ok();
    let run = d.docker(&["run", "--rm", "tools-only", "ls", "/out"]).ok();
    assert_eq!(run.stdout, "tool.txt\n");
    let bad = d.docker(&["build", "--target", "nosuch", path(&ctx)]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("failed to reach build target nosuch"),
        "{}",
        bad.stderr
    );
}

#[test]
fn the_dockerfile_language() {
    let (d, _reg) = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "# syntax=docker/dockerfile:1\n\
         FROM busybox\n\
         ARG WHO=world\n\
         ARG TARGETARCH\n\
         ENV PREFIX=${PREFIX:-/opt} \\\n\
             MSG=\"hello $WHO\"\n\
         LABEL org.example.who=$WHO\n\
         EXPOSE 8080 53/udp\n\
         VOLUME /data\n\
         USER 1000:1000\n\
         STOPSIGNAL SIGINT\n\
         HEALTHCHECK --interval=5s --retries=2 CMD true\n\
         SHELL [\"/bin/sh\", \"-ec\"]\n\
         USER root\n\
         RUN <<EOF\n\
         echo \"arch=$TARGETARCH who=$WHO\" > /built.txt\n\
         id -u >> /built.txt\n\
         EOF\n\
         COPY <<EOT /etc/note.txt\n\
         $MSG\n\
         EOT\n\
         ENTRYPOINT [\"cat\"]\n\
         CMD [\"/built.txt\", \"/etc/note.txt\"]\n\
         ONBUILD RUN echo triggered > /triggered\n",
    )]);
    let out = d
        .docker(&[
            "build",
            "--build-arg",
            "WHO=berth",
            "--label",
            "extra=yes",
            "-t",
            "lang",
            path(&ctx),
        ])
        .ok();
    assert!(out.stdout.contains("syntax directive"), "{}", out.stdout);
    let run = d.docker(&["run", "--rm", "lang"]).ok();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    assert_eq!(
        run.stdout,
        format!("arch={arch} who=berth\n0\nhello berth\n")
    );
    let cfg = |f: &str| inspect(&d, "lang", f);
    assert_eq!(
        cfg("{{json .Config.Labels}}"),
        r#"{"extra":"yes","org.example.who":"berth"}"#
    );
    assert_eq!(
        cfg("{{json .Config.ExposedPorts}}"),
        r#"{"53/udp":{},"8080/tcp":{}}"#
    );
    assert_eq!(cfg("{{json .Config.Volumes}}"), r#"{"/data":{}}"#);
    assert_eq!(
        cfg("{{.Config.StopSignal}} {{.Config.User}}"),
        "SIGINT root"
    );
    assert_eq!(
        cfg("{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Retries}}"),
        r#"["CMD-SHELL","true"] 2"#
    );
    assert_eq!(cfg("{{json .Config.Shell}}"), r#"["/bin/sh","-ec"]"#);
    assert!(cfg("{{json .Config.Env}}").contains("PREFIX=/opt"));
    // The build arg is not kept in the image's env.
    assert!(!cfg("{{json .Config.Env}}").contains("WHO"));
    // ONBUILD runs in an image built on this one.
    let child = context(&[(
        "Dockerfile",
        "FROM lang\nENTRYPOINT []\nCMD cat /triggered\n",
    )]);
    let out = d.docker(&["build", "-t", "child", path(&child)]).ok();
    assert!(
        out.stdout.contains("# Executing 1 build trigger"),
        "{}",
        out.stdout
    );
    assert_eq!(
        d.docker(&["run", "--rm", "child"]).ok().stdout,
        "triggered\n"
    );
    assert_eq!(inspect(&d, "child", "{{json .Config.OnBuild}}"), "null");
    // Unused build args are reported.
    let out = d
        .docker(&["build", "--build-arg", "NOPE=1", path(&child)])
        .ok();
    assert!(
        out.stdout
            .contains("One or more build-args [NOPE] were not consumed"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_context_dockerignore_globs_add_and_dockerfiles_elsewhere() {
    let (d, _reg) = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY *.txt /txt/\nCOPY src /src\nADD files.tar /unpacked/\nCOPY --chown=1234:5678 --chmod=600 a.txt /owned\nRUN ls -R /txt /src /unpacked | sort; stat -c '%u:%g %a' /owned\n",
        ),
        ("a.txt", "a"),
        ("b.txt", "b"),
        ("secret.txt", "s"),
        ("src/keep.rs", "k"),
        ("src/target/big.bin", "x"),
        (".dockerignore", "secret.txt\nsrc/target\n"),
    ]);
    // A tar for ADD to unpack.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    tar.append_data(&mut h, "inner/file", &b"abc"[..]).unwrap();
    std::fs::write(ctx.path().join("files.tar"), tar.into_inner().unwrap()).unwrap();
    let out = d.docker(&["build", "-t", "ctx", path(&ctx)]).ok();
    assert!(
        out.stdout.contains("a.txt") && out.stdout.contains("b.txt"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("secret.txt"), "{}", out.stdout);
    assert!(
        out.stdout.contains("keep.rs") && !out.stdout.contains("big.bin"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("inner"), "{}", out.stdout);
    assert!(out.stdout.contains("1234:5678 600"), "{}", out.stdout);
    // An excluded file cannot be copied, even named.
    let bad = context(&[
        ("Dockerfile", "FROM busybox\nCOPY secret.txt /\n"),
        ("secret.txt", "s"),
        (".dockerignore", "secret.txt\n"),
    ]);
    let out = d.docker(&["build", path(&bad)]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("file not found in build context or excluded by .dockerignore"),
        "{}",
        out.stderr
    );
    // -f from outside the context, and a Dockerfile on stdin with no context.
    let other = tempfile::tempdir().unwrap();
    let df = other.path().join("Other.dockerfile");
    std::fs::write(&df, "FROM busybox\nCOPY a.txt /\nCMD cat /a.txt\n").unwrap();
    d.docker(&[
        "build",
        "-f",
        df.to_str().unwrap(),
        "-t",
        "outside",
        path(&ctx),
    ])
    .ok();
    assert_eq!(d.docker(&["run", "--rm", "outside"]).ok().stdout, "a");
    d.berth(&[
        "build",
        "-f",
        df.to_str().unwrap(),
        "-t",
        "outside2",
        path(&ctx),
    ])
    .ok();
    let out = d
        .docker_stdin(
            &["build", "-t", "stdin", "-"],
            b"FROM busybox\nCMD echo from stdin\n",
        )
        .ok();
    assert!(
        out.stdout.contains("Successfully tagged stdin:latest"),
        "{}",
        out.stdout
    );
    assert_eq!(
        d.docker(&["run", "--rm", "stdin"]).ok().stdout,
        "from stdin\n"
    );
    d.berth_stdin(
        &["build", "-t", "stdin2", "-f", "-", path(&ctx)],
        b"FROM busybox\nCOPY b.txt /\n",
    )
    .ok();
}

#[test]
fn bad_builds_get_dockers_errors_and_leave_nothing() {
    let (d, reg) = Daemon::with_busybox();
    let images_before = d.docker(&["image", "ls", "-aq"]).ok().stdout;
    // An image that is not a stage is pulled: from the test's registry, which lacks it.
    let missing = format!(
        "FROM busybox\nCOPY --from={}/library/nosuchimage:1 /a /b\n",
        reg.addr
    );
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nFROB x\n",
            "dockerfile parse error on line 2: unknown instruction: FROB",
        ),
        ("# just a comment\n", "the Dockerfile cannot be empty"),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "forbidden path outside the build context: ../outside",
        ),
        (
            "FROM busybox\nCOPY nothing-here /x\n",
            "file not found in build context or excluded by .dockerignore",
        ),
        (
            "FROM busybox\nADD http://example.invalid/x /x\n",
            "berth builds offline",
        ),
        ("FROM busybox\nCOPY --frm=x a b\n", "Unknown flag: frm"),
        ("ARG V\nFROM $V\n", "base name ($V) should not be blank"),
        (
            "FROM busybox\nSHELL sh -c\n",
            "SHELL requires the arguments to be in JSON form",
        ),
        (&missing, "nosuchimage"),
    ];
    for (df, want) in cases {
        let ctx = context(&[("Dockerfile", df)]);
        let out = d.docker(&["build", "-t", "bad", path(&ctx)]);
        assert_ne!(out.code, 0, "{df}");
        assert!(
            out.stderr.contains(want),
            "{df}: want {want:?} in {}",
            out.stderr
        );
    }
    // A failing RUN: Docker's message and exit code, and with --force-rm no container stays.
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo before; exit 3\n")]);
    let out = d.docker(&["build", "--force-rm", "-t", "bad", path(&ctx)]);
    assert_eq!(
        out.code, 3,
        "the CLI exits with the step's code, from errorDetail"
    );
    assert!(
        out.stderr
            .contains("The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("before"), "{}", out.stdout);
    assert!(containers(&d).is_empty());
    assert_eq!(
        d.docker(&["image", "inspect", "bad"]).code,
        1,
        "nothing tagged"
    );
    // Without --force-rm the failed step's container stays, as with Docker.
    let out = d.docker(&["build", path(&ctx)]);
    assert_eq!(out.code, 3);
    assert_eq!(containers(&d).lines().count(), 1);
    d.docker(&["container", "prune", "-f"]).ok();
    // The API: a context whose entries lead out is refused, nothing written outside.
    let mut raw = Vec::new();
    {
        let mut tar = tar::Builder::new(&mut raw);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(4);
        h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"../escaped.tx");
        h.set_cksum();
        tar.append(&h, &b"evil"[..]).unwrap();
        tar.finish().unwrap();
    }
    let (status, _, body) = d.http_bytes("POST", "/build", &raw);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("outside"), "{body}");
    assert!(!d.data_root().join("tmp/escaped.tx").exists());
    // Unknown query parameters are refused by name.
    let (status, _, body) = d.http_bytes("POST", "/build?squash=1", &raw);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("squash"), "{body}");
    // Nothing half-built is left among the images.
    let ids = |out: String| -> std::collections::BTreeSet<String> {
        out.lines().map(str::to_string).collect()
    };
    let images_after = d.docker(&["image", "ls", "-aq"]).ok().stdout;
    assert_eq!(ids(images_before), ids(images_after));
}

#[test]
fn run_cache_mounts_keep_their_content_between_builds() {
    let (d, _reg) = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nARG N\nRUN --mount=type=cache,target=/cache echo $N >> /cache/runs && cat /cache/runs && test ! -e /cache-was-kept\n",
    )]);
    d.docker(&["build", "--build-arg", "N=1", path(&ctx)]).ok();
    let out = d.docker(&["build", "--build-arg", "N=2", path(&ctx)]).ok();
    assert!(out.stdout.contains("1\n2\n"), "{}", out.stdout);
    let bad = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=x true\n",
    )]);
    let out = d.docker(&["build", path(&bad)]);
    assert!(
        out.stderr.contains("type=secret is not supported yet"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_bind_mounts_show_a_stage_or_the_context_and_keep_nothing() {
    let (d, _reg) = Daemon::with_busybox();
    let mounts_before = mounts_under(&d);
    let dockerfile = "FROM busybox AS deps\n\
        RUN mkdir /out && echo built-dep > /out/dep.txt && touch /etc/berth-marker\n\
        FROM busybox\n\
        RUN --mount=type=bind,from=deps,source=/out,target=/in cat /in/dep.txt && ! touch /in/x 2>/dev/null\n\
        RUN --mount=type=bind,from=deps,source=/out,target=/rw,rw touch /rw/new && ls /rw\n\
        RUN --mount=type=bind,from=deps,source=/out,target=/in test ! -e /in/new\n\
        RUN --mount=type=bind,from=deps,source=../../../etc,target=/p test -e /p/berth-marker\n\
        RUN --mount=target=/ctx cp /ctx/data.txt /copied\n\
        CMD [\"cat\", \"/copied\"]\n";
    let ctx = context(&[("Dockerfile", dockerfile), ("data.txt", "one\n")]);
    let out = d.docker(&["build", "-t", "binds", path(&ctx)]).ok();
    assert!(out.stdout.contains("built-dep\n"), "{}", out.stdout);
    assert!(out.stdout.contains("dep.txt\nnew\n"), "{}", out.stdout);
    assert_eq!(d.docker(&["run", "--rm", "binds"]).ok().stdout, "one\n");
    // The context bind is keyed by what it shows: a changed file runs the step again.
    let again = d.berth(&["build", "-t", "binds", path(&ctx)]).ok();
    assert_eq!(
        again.stdout.matches("Using cache").count(),
        7,
        "{}",
        again.stdout
    );
    std::fs::write(ctx.path().join("data.txt"), "two\n").unwrap();
    let changed = d.berth(&["build", "-t", "binds", path(&ctx)]).ok();
    assert_eq!(
        changed.stdout.matches("Using cache").count(),
        5,
        "{}",
        changed.stdout
    );
    assert_eq!(d.docker(&["run", "--rm", "binds"]).ok().stdout, "two\n");
    assert!(containers(&d).is_empty(), "no build container is left");
    assert_eq!(mounts_under(&d), mounts_before, "no mount is left");

    let bad = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=target=/ctx,rw true\n",
    )]);
    let out = d.docker(&["build", path(&bad)]);
    assert!(
        out.stderr
            .contains("rw of the build context is not supported yet"),
        "{}",
        out.stderr
    );
    let missing = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=source=nothere,target=/x true\n",
    )]);
    let out = d.docker(&["build", path(&missing)]);
    assert!(
        out.stderr.contains("\"/nothere\" not found"),
        "{}",
        out.stderr
    );
}

/// The mounts under the daemon's data root.
fn mounts_under(d: &Daemon) -> usize {
    let root = d.data_root().to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&root))
        .count()
}

#[test]
fn cache_from_reuses_the_steps_of_a_loaded_image() {
    let (d, _reg) = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nENV A=1\nCOPY f.txt /f.txt\nRUN echo ran-once > /ran\nCMD [\"cat\", \"/ran\"]\n",
        ),
        ("f.txt", "content\n"),
    ]);
    d.berth(&["build", "-t", "cached:1", path(&ctx)]).ok();
    let id = inspect(&d, "cached:1", "{{.Id}}");
    // The image travels as a tar; here the build cache and the step images are gone.
    let tar = d.data_root().join("../cached.tar");
    d.docker(&["save", "-o", tar.to_str().unwrap(), "cached:1"])
        .ok();
    let busybox = inspect(&d, &format!("{}/library/busybox", _reg.addr), "{{.Id}}");
    let rmi = d.docker(&["rmi", "cached:1"]).ok().stdout;
    // Its untagged parents go with it: the step images, down to the tagged base.
    assert_eq!(
        rmi.matches("Deleted: sha256:").count(),
        6,
        "4 images, 2 layers: {rmi}"
    );
    let left = d.docker(&["image", "ls", "-aq", "--no-trunc"]).ok().stdout;
    assert!(left.lines().all(|l| l == busybox), "{left}");
    d.docker(&["builder", "prune", "-af"]).ok();
    d.docker(&["load", "-i", tar.to_str().unwrap()]).ok();

    let from = d
        .docker(&[
            "build",
            "--cache-from",
            "cached:1",
            "-t",
            "cached:2",
            path(&ctx),
        ])
        .ok();
    assert_eq!(
        from.stdout.matches("Using cache").count(),
        4,
        "{}",
        from.stdout
    );
    assert!(!from.stdout.contains("Running in"), "{}", from.stdout);
    assert_eq!(
        inspect(&d, "cached:2", "{{.Id}}"),
        id,
        "the loaded image itself"
    );
    assert_eq!(
        d.docker(&["run", "--rm", "cached:2"]).ok().stdout,
        "ran-once\n"
    );
    // A changed file: the steps before it come from the image, the rest run.
    std::fs::write(ctx.path().join("f.txt"), "changed\n").unwrap();
    d.docker(&["builder", "prune", "-af"]).ok();
    let changed = d
        .berth(&[
            "build",
            "--cache-from",
            "cached:1",
            "-t",
            "cached:3",
            path(&ctx),
        ])
        .ok();
    assert_eq!(
        changed.stdout.matches("Using cache").count(),
        1,
        "{}",
        changed.stdout
    );
    assert!(changed.stdout.contains("Running in"), "{}", changed.stdout);
    let parent = inspect(&d, "cached:3", "{{.Parent}}");
    d.docker(&["rmi", "--no-prune", "cached:3"]).ok();
    assert!(
        d.docker(&["image", "ls", "-aq", "--no-trunc"])
            .ok()
            .stdout
            .contains(&parent),
        "--no-prune keeps {parent}"
    );
    // Without --cache-from, nothing of it is used; a name that is not here is skipped.
    d.docker(&["builder", "prune", "-af"]).ok();
    let plain = d
        .docker(&["build", "--cache-from", "not-here:1", path(&ctx)])
        .ok();
    assert!(!plain.stdout.contains("Using cache"), "{}", plain.stdout);
    let _ = std::fs::remove_file(tar);
}

#[test]
fn docker_py_builds_from_a_path_and_a_fileobj() {
    let (d, _reg) = Daemon::with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo py > /py\nCMD cat /py\n",
    )]);
    let script = format!(
        r#"
import io, sys, docker
c = docker.DockerClient(base_url=sys.argv[1])
img, logs = c.images.build(path="{path}", tag="pyimg:1")
assert "pyimg:1" in img.tags, img.tags
assert any("Successfully built" in l.get("stream", "") for l in logs)
assert c.containers.run("pyimg:1", remove=True) == b"py\n"
img2, _ = c.images.build(fileobj=io.BytesIO(b"FROM busybox\nLABEL from=fileobj\n"), tag="pyimg:2")
assert img2.labels == {{"from": "fileobj"}}, img2.labels
try:
    c.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"))
    raise SystemExit("no BuildError")
except docker.errors.BuildError as e:
    assert "returned a non-zero code: 7" in str(e), str(e)
print("ok")
"#,
        path = path(&ctx)
    );
    d.docker_py(&script);
}

#[test]
fn run_steps_get_the_builds_memory_cpu_shares_shm_hosts_and_network() {
    let (d, _reg) = Daemon::with_busybox();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let (mem, shares, want_shares) = if v2 {
        (
            "/sys/fs/cgroup/memory.max",
            "/sys/fs/cgroup/cpu.weight",
            "20",
        )
    } else {
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/cpu/cpu.shares",
            "512",
        )
    };
    let ctx = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nRUN cat {mem} {shares} && df -k /dev/shm | tail -1 && grep db.test /etc/hosts && ls /sys/class/net\n"
        ),
    )]);
    let out = d
        .docker(&[
            "build",
            "--no-cache",
            "-m",
            "48m",
            "--cpu-shares",
            "512",
            "--shm-size",
            "24m",
            "--add-host",
            "db.test:10.9.8.7",
            "--network",
            "none",
            path(&ctx),
        ])
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(" ---> Running in "))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(lines[at + 1], (48u64 << 20).to_string(), "{}", out.stdout);
    assert_eq!(lines[at + 2], want_shares, "{}", out.stdout);
    assert_eq!(
        lines[at + 3].split_whitespace().nth(1),
        Some("24576"),
        "{}",
        out.stdout
    );
    assert!(lines[at + 4].starts_with("10.9.8.7"), "{}", out.stdout);
    assert_eq!(lines[at + 5], "lo", "network none: {}", out.stdout);
    // The same through berth's own CLI.
    let out = d
        .berth(&[
            "build",
            "--no-cache",
            "--progress=plain",
            "--add-host",
            "db.test:10.9.8.7",
            "--network",
            "none",
            "--shm-size",
            "24m",
            "-m",
            "48m",
            path(&ctx),
        ])
        .ok();
    assert!(
        out.stdout.contains(&(48u64 << 20).to_string()),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("10.9.8.7"), "{}", out.stdout);
    assert!(out.stdout.contains(" 24576 "), "{}", out.stdout);
}
