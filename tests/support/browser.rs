//! Running a browser test: a script of `tests/browser/` (Python, selenium, headless Chromium)
//! with the venv's python, which must end by printing "every check passed".

use std::path::PathBuf;

/// Where a test's screenshots go: `AMS_UI_SHOTS` (to refresh docs/img), else a fresh
/// directory under the system temp dir.
pub fn screenshot_dir(name: &str) -> PathBuf {
    std::env::var("AMS_UI_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join(format!("ams-{name}-screenshots-{}", uuid::Uuid::new_v4().simple())))
}

/// Runs `tests/browser/<script>` with `args` and `env`; panics with its output and `log()` (the
/// server's) unless every check passed. Returns what it printed.
pub fn run(script: &str, args: &[&str], env: &[(&str, &str)], log: impl FnOnce() -> String) -> String {
    let python = crate::aws::venv_python();
    let out = std::process::Command::new(&python)
        .arg(crate::repo_root().join("tests/browser").join(script))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{python} ({e}): run scripts/test, which installs selenium and chromium"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("every check passed"),
        "the browser test {script} failed:\n{stdout}\n{}\n--- serve log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    stdout
}
