// The git commit and build time of a berth build, as `BERTH_GIT_COMMIT` and
// `BERTH_BUILD_TIME` (RFC 3339) for `env!`: included by the build scripts of the crates that
// report them (the CLI's `version`, the API's `/version`). Empty outside a git checkout.

fn emit_version() {
    let run = |cmd: &str, args: &[&str]| -> String {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = run("git", &["rev-parse", "--short=7", "HEAD"]);
    let built = run("date", &["-u", "+%Y-%m-%dT%H:%M:%S.000000000+00:00"]);
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BERTH_BUILD_TIME={built}");
    // Built again when HEAD moves (a commit, a checkout), not on every build.
    let git_dir = run("git", &["rev-parse", "--absolute-git-dir"]);
    if !git_dir.is_empty() {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        println!("cargo:rerun-if-changed={git_dir}/logs/HEAD");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
