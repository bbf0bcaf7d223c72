//! What every test of the `zkmesh` binary shares: running it on a connect string with nothing
//! from this shell's environment (`ZKMESH_ZK`, `ZKMESH_ROOT`, credentials), and reading its
//! output.
#![allow(dead_code)]

/// Runs `zkmesh --zk <zk> <args...>` to completion.
pub fn zkmesh(zk: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zkmesh"))
        .arg("--zk")
        .arg(zk)
        .args(args)
        .env_remove("ZKMESH_ZK")
        .env_remove("ZKMESH_ROOT")
        .env_remove("ZKMESH_AUTH")
        .env_remove("ZKMESH_AUTH_FILE")
        .output()
        .expect("run zkmesh")
}

/// The standard output of a run that succeeded (fails the test with its stderr otherwise).
pub fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "zkmesh failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The standard error of a run that failed (fails the test with its stdout otherwise).
pub fn failure(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "zkmesh should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}
