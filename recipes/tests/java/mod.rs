//! A Curator program of `tests/fixtures`, compiled with `javac` into a temporary directory and
//! driven line by line over its standard input and output.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(30);

/// Debian's Curator and ZooKeeper client jars (`scripts/install-zookeeper` installs them), or
/// `CURATOR_CLASSPATH`.
fn curator_classpath() -> String {
    if let Ok(cp) = std::env::var("CURATOR_CLASSPATH") {
        return cp;
    }
    let jars = [
        "curator-recipes",
        "curator-framework",
        "curator-client",
        "zookeeper",
        "zookeeper-jute",
        "guava",
        "slf4j-api",
        "slf4j-nop",
    ];
    let paths: Vec<PathBuf> =
        jars.iter().map(|j| PathBuf::from(format!("/usr/share/java/{j}.jar"))).collect();
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        panic!(
            "{} is missing: run scripts/install-zookeeper (it installs Debian's libcurator-recipes-java) \
             or set CURATOR_CLASSPATH",
            missing.display()
        );
    }
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")
}

/// The fixture `SemaphoreHolder.java`, compiled into a temporary directory, running.
pub struct JavaHolder {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    _classes: tempfile::TempDir,
}

impl JavaHolder {
    /// Compiles `tests/fixtures/<class>.java` into a temporary directory and runs it with `args`;
    /// waits for its `READY` line.
    pub async fn start(class: &str, args: &[&str]) -> JavaHolder {
        let classes = tempfile::tempdir().expect("temp dir");
        let cp = curator_classpath();
        let source = format!("{}/tests/fixtures/{class}.java", env!("CARGO_MANIFEST_DIR"));
        let javac = tokio::process::Command::new("javac")
            .args(["-d", &classes.path().display().to_string(), "-cp", &cp, &source])
            .status()
            .await
            .expect("javac runs (install default-jdk-headless)");
        assert!(javac.success(), "javac failed on {source}");
        let mut child = tokio::process::Command::new(std::env::var("JAVA").unwrap_or_else(|_| "java".into()))
            .args(["-cp", &format!("{}:{cp}", classes.path().display()), class])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("java runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut java = JavaHolder { child, stdin, stdout, _classes: classes };
        assert_eq!(java.line().await, "READY");
        java
    }

    pub async fn send(&mut self, command: &str) {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.expect("to java");
        self.stdin.flush().await.expect("flush");
    }

    pub async fn line(&mut self) -> String {
        let line = timeout(WAIT * 2, self.stdout.next_line()).await.expect("java answers in time");
        line.expect("read java").expect("java still running")
    }

    pub async fn quit(mut self) {
        self.send("quit").await;
        let status = timeout(WAIT, self.child.wait()).await.expect("java exits").expect("wait");
        assert!(status.success(), "java exited with {status}");
    }
}
