//! A JVM under a watchdog shell that cannot outlive us.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::CONFIG_FILE;
use crate::error::{Error, Result};
use crate::launch::Launch;
use crate::log::{tail_suffix, LOG_FILE};

/// How long `stop` waits after SIGTERM before it sends SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);
const WATCHDOG_PID_TIMEOUT: Duration = Duration::from_secs(10);

/// The watchdog, run as `sh -c WATCHDOG local-zk-watchdog DIR JAVA ARGS...` with a pipe from us
/// on its stdin (the "lifeline") and its stdout piped to us. `DIR` is the server's temporary
/// directory (an ensemble's, for a member).
///
/// It moves the lifeline to fd 3 and starts the JVM in the background with stdin from /dev/null,
/// stdout and stderr to the log (the shell's stderr) and fd 3 closed, so the JVM holds no end of
/// the lifeline. A guard subshell blocks on `read` from the lifeline. We never write to it but a
/// final newline when we let go of the JVM deliberately (drop): `read` then succeeds and the
/// guard SIGKILLs the JVM. If our process dies in any way (panic, abort, SIGKILL, exit with the
/// server in a `static`) the kernel closes the lifeline, `read` hits end-of-file, and the guard
/// SIGKILLs the JVM and removes `DIR`, which no destructor of ours will remove then.
///
/// The shell prints the JVM's pid (so that we signal the JVM itself), closes its stdout, waits
/// for the JVM, ends the guard, waits for it and exits with the JVM's status: our child (the
/// shell) lives exactly as long as the JVM and its guard, so once it has exited, nothing of the
/// server is left running.
const WATCHDOG: &str = r#"dir=$1
shift
exec 3<&0 0</dev/null
"$@" >&2 3<&- &
jvm=$!
(
  if read -r _ <&3; then
    kill -9 "$jvm"
  else
    trap '' TERM
    kill -9 "$jvm"
    [ -n "$dir" ] && rm -rf "$dir"
  fi
) >/dev/null 2>&1 &
guard=$!
exec 3<&-
echo "$jvm"
exec 1>&-
wait "$jvm"
status=$?
kill "$guard" 2>/dev/null
wait "$guard" 2>/dev/null
exit "$status"
"#;

/// A running JVM under its watchdog shell.
#[derive(Debug)]
pub(crate) struct Watchdog {
    /// The `sh` running [`WATCHDOG`]; it exits when (and only when) the JVM has exited.
    shell: Child,
    /// Our end of the pipe on the shell's stdin; closing it makes the guard SIGKILL the JVM.
    lifeline: Option<ChildStdin>,
    /// The JVM itself, which is what we signal.
    jvm: Pid,
    /// The shell's (= the JVM's) exit status, once seen.
    exited: Option<ExitStatus>,
}

impl Watchdog {
    /// Starts the JVM in `dir` (its config and log are there); `cleanup` is removed by the
    /// guard if our process dies.
    pub(crate) async fn spawn(launch: &Launch, main_class: &str, dir: &Path, cleanup: &Path) -> Result<Self> {
        let log_path = dir.join(LOG_FILE);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
        let mut shell = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("local-zk-watchdog")
            .arg(cleanup)
            .arg(launch.java())
            .args(launch.jvm_args(main_class, &dir.join(CONFIG_FILE)))
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| Error::io("starting /bin/sh for the ZooKeeper watchdog", e))?;
        let lifeline = shell.stdin.take();
        let stdout = shell.stdout.take();
        let mut watchdog = Watchdog { shell, lifeline, jvm: Pid::from_raw(0), exited: None };
        // The shell prints the pid right away; read it off the runtime's threads all the same.
        let line = tokio::time::timeout(
            WATCHDOG_PID_TIMEOUT,
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                if let Some(stdout) = stdout {
                    BufReader::new(stdout).read_line(&mut line)?;
                }
                Ok::<_, std::io::Error>(line)
            }),
        )
        .await;
        let pid = match line {
            Ok(Ok(Ok(line))) => line.trim().parse::<i32>().ok().filter(|pid| *pid > 0),
            _ => None,
        };
        match pid {
            Some(pid) => {
                watchdog.jvm = Pid::from_raw(pid);
                Ok(watchdog)
            }
            None => {
                watchdog.kill_now();
                Err(Error::start(format!(
                    "the watchdog shell did not report the JVM's pid{}",
                    tail_suffix(&log_path)
                )))
            }
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.jvm.as_raw().unsigned_abs()
    }

    /// Whether the JVM (and so its shell) is known to have exited.
    pub(crate) fn has_exited(&self) -> bool {
        self.exited.is_some()
    }

    /// The exit status if the JVM (and so its shell) has exited.
    pub(crate) fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.shell.try_wait().ok().flatten();
            if self.exited.is_some() {
                self.release();
            }
        }
        self.exited
    }

    /// Lets go of the lifeline deliberately: a newline, so that a guard still alive kills the
    /// JVM but leaves the directory alone, then end-of-file.
    fn release(&mut self) {
        if let Some(mut lifeline) = self.lifeline.take() {
            use std::io::Write as _;
            let _ = lifeline.write_all(b"\n");
        }
    }

    /// Sends `signal` to the JVM unless it is known to be gone.
    pub(crate) fn signal(&mut self, signal: Signal) -> Result<()> {
        if self.try_exit().is_some() {
            return Ok(());
        }
        match kill(self.jvm, signal) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(Error::signal(format!("cannot send {signal} to the JVM (pid {}): {e}", self.jvm))),
        }
    }

    /// Waits up to `timeout` for the JVM to exit.
    async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILLs the JVM and waits for it.
    pub(crate) async fn kill(&mut self) -> Result<ExitStatus> {
        self.signal(Signal::SIGKILL)?;
        match self.wait_exit(STOP_GRACE).await {
            Some(status) => Ok(status),
            None => {
                // Cannot happen short of a wedged kernel; do not leave the shell behind either way.
                self.kill_now();
                self.try_exit().ok_or_else(|| {
                    Error::signal(format!("the JVM (pid {}) did not die on SIGKILL", self.jvm))
                })
            }
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`].
    pub(crate) async fn stop(&mut self) -> Result<ExitStatus> {
        self.signal(Signal::SIGTERM)?;
        match self.wait_exit(STOP_GRACE).await {
            Some(status) => Ok(status),
            None => {
                tracing::warn!(pid = %self.jvm, "ZooKeeper did not stop within {STOP_GRACE:?} of SIGTERM; sending SIGKILL");
                self.kill().await
            }
        }
    }

    /// Synchronous kill and reap, for `Drop` and failed starts.
    pub(crate) fn kill_now(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        if self.jvm.as_raw() > 0 {
            let _ = kill(self.jvm, Signal::SIGKILL);
        }
        self.release();
        let deadline = Instant::now() + STOP_GRACE;
        while self.try_exit().is_none() {
            if Instant::now() >= deadline {
                let _ = self.shell.kill();
                self.exited = self.shell.wait().ok();
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// How the JVM ended, from its watchdog shell's exit status.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        // The shell reports a JVM killed by signal N as 128 + N.
        (Some(code), _) if code > 128 => match Signal::try_from(code - 128) {
            Ok(signal) => format!("killed by {signal}"),
            Err(_) => format!("exit code {code}"),
        },
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("watchdog killed by signal {signal}"),
        (None, None) => "unknown status".to_owned(),
    }
}
