//! `docker build` (the classic builder) and `berth build` against berthd.

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

#[test]
fn a_six_step_dockerfile_builds_runs_and_rebuilds_from_cache() {
    let (d, _reg) = Daemon::with_busybox();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nENV GREETING=hello APP=/app\nWORKDIR $APP\nCOPY hello.txt ./\nRUN echo \"$GREETING from run\" > run.txt && cat hello.txt\nCMD [\"cat\", \"/app/run.txt\"]\n",
        ),
        ("hello.txt", "hi there\n"),
    ]);
    let dir = ctx.path().to_str().unwrap();
    let out = d.docker(&["build", "-t", "six:1", dir]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    eprintln!("{}", out.stdout);
    assert!(
        out.stdout.contains("Step 1/6 : FROM busybox"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("hi there"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Successfully tagged six:1"),
        "{}",
        out.stdout
    );
    let run = d.docker(&["run", "--rm", "six:1"]);
    assert_eq!(run.stdout, "hello from run\n", "{}", run.stderr);
    let again = d.docker(&["build", "-t", "six:1", dir]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.stdout.matches("Using cache").count(),
        5,
        "{}",
        again.stdout
    );
}
