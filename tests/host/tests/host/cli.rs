use std::process::Command;

fn host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_host"))
}

fn app_with_build(command: &str) -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap();
    let manifest = crate::helpers::single_component(
        "alpha",
        &format!("[component.alpha.build]\ncommand = {command:?}"),
    )
    .replace(
        "{fixture}",
        &crate::helpers::fixture_wasm().display().to_string(),
    );
    std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
    dir
}

#[test]
fn build_runs_each_components_build_command_in_the_app_directory() {
    let dir = app_with_build("echo built > marker.txt");
    let out = host()
        .args(["build", "--from"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("marker.txt")).unwrap(),
        "built\n"
    );
}

#[test]
fn a_failing_build_command_fails_the_build() {
    let dir = app_with_build("exit 3");
    let out = host()
        .args(["build", "--from"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("build command for component alpha failed")
    );
}

#[test]
fn build_defaults_to_spin_toml_in_the_current_directory() {
    let dir = app_with_build("echo built > marker.txt");
    let out = host()
        .arg("build")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("marker.txt").exists());
}
