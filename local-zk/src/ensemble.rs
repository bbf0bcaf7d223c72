//! [`LocalEnsemble`]: several servers forming one quorum.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::config::{PeerPorts, Settings};
use crate::error::{Error, Result};
use crate::launch::Launch;
use crate::log::{log_tail, LOG_TAIL_LINES};
use crate::node::{Node, StartFailure, QUORUM_MAIN, START_ATTEMPTS};
use crate::ports::free_ports;
use crate::probe::{self, srvr_mode, POLL_INTERVAL, PROBE_TIMEOUT};

/// Most members an ensemble may have.
const MAX_MEMBERS: usize = 7;

/// A real ZooKeeper ensemble on 127.0.0.1: `n` JVMs running `QuorumPeerMain`, each with its own
/// client, peer and election port and its own directory under one temporary directory.
///
/// Members are numbered from 0 (their `myid` is index + 1). Dropping the ensemble SIGKILLs and
/// reaps every JVM and removes the directory; as with [`LocalZooKeeper`](crate::LocalZooKeeper),
/// the JVMs die with our process even if it is never dropped.
///
/// ```no_run
/// # async fn demo() -> zkmesh_local_zk::Result<()> {
/// use std::time::Duration;
/// use zkmesh_local_zk::LocalEnsemble;
///
/// let mut ensemble = LocalEnsemble::start(3).await?;
/// let leader = ensemble.leader().await?;
/// ensemble.kill(leader).await?;
/// let new_leader = ensemble.wait_for_leader(Duration::from_secs(30)).await?;
/// assert_ne!(new_leader, leader);
/// ensemble.restart(leader).await?; // rejoins as a follower
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LocalEnsemble {
    // Declared before `_dir` so the JVMs are killed before their directories are removed.
    members: Vec<Node>,
    launch: Launch,
    settings: Settings,
    _dir: TempDir,
}

/// Options for [`LocalEnsemble`]; from [`LocalEnsemble::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct LocalEnsembleBuilder {
    members: usize,
    settings: Settings,
}

impl LocalEnsembleBuilder {
    /// How many members (1 to 7; default 3).
    pub fn members(mut self, n: usize) -> Self {
        self.members = n;
        self
    }

    /// ZooKeeper's `tickTime` (default 500 ms).
    pub fn tick_time(mut self, tick_time: Duration) -> Self {
        self.settings.tick_time = tick_time;
        self
    }

    /// The shortest session time-out the members grant (default 2 ticks).
    pub fn min_session_timeout(mut self, timeout: Duration) -> Self {
        self.settings.min_session_timeout = Some(timeout);
        self
    }

    /// The longest session time-out the members grant (default 20 ticks).
    pub fn max_session_timeout(mut self, timeout: Duration) -> Self {
        self.settings.max_session_timeout = Some(timeout);
        self
    }

    /// How long a start, restart or [`LocalEnsemble::leader`] may take (default 30 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.settings.startup_timeout = timeout;
        self
    }

    /// Starts every member and waits until each answers `ruok` with `imok`, a leader is elected
    /// and every member serves (as leader or follower).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the member count is not 1 to 7 or the settings are invalid;
    /// [`Error::NotInstalled`] if Java or the ZooKeeper jars are missing (the message says what
    /// to install); [`Error::Start`] if a member exits or the quorum does not form within the
    /// start-up timeout (with the tails of the logs concerned; port conflicts are retried on new
    /// ports, up to 5 attempts); [`Error::Io`] if the temporary directories or files cannot be
    /// created.
    pub async fn start(self) -> Result<LocalEnsemble> {
        let n = self.members;
        if !(1..=MAX_MEMBERS).contains(&n) {
            return Err(Error::invalid(format!("an ensemble has 1 to {MAX_MEMBERS} members, not {n}")));
        }
        self.settings.validate()?;
        let launch = Launch::from_env()?;
        let dir = tempfile::Builder::new()
            .prefix("local-zk-ensemble-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory for a ZooKeeper ensemble", e))?;
        let members = (1..=n)
            .map(|id| {
                Node::new(id, dir.path().join(format!("member-{id}")), dir.path().to_path_buf(), QUORUM_MAIN)
            })
            .collect();
        let mut ensemble = LocalEnsemble { members, launch, settings: self.settings, _dir: dir };
        for attempt in 1..=START_ATTEMPTS {
            let ports = free_ports(3 * n)?;
            let peers: Vec<PeerPorts> = (0..n)
                .map(|i| PeerPorts { id: i + 1, peer: ports[n + 2 * i], election: ports[n + 2 * i + 1] })
                .collect();
            for (i, member) in ensemble.members.iter_mut().enumerate() {
                member.reset_data()?;
                member.configure(&ensemble.settings, ports[i], None, &peers)?;
                member.mark_log(&format!("start attempt {attempt}"));
            }
            match ensemble.launch_all().await {
                Ok(()) => {
                    tracing::debug!(connect = %ensemble.connect_string(), attempt, "local ZooKeeper ensemble ready");
                    return Ok(ensemble);
                }
                Err(failure) => {
                    ensemble.members.iter_mut().for_each(Node::kill_now);
                    if failure.port_conflict && attempt < START_ATTEMPTS {
                        tracing::debug!(attempt, "port conflict; retrying the ensemble on new ports");
                        continue;
                    }
                    return Err(failure.error);
                }
            }
        }
        unreachable!("the last attempt returns")
    }
}

impl LocalEnsemble {
    /// Starts an ensemble of `n` members (1 to 7) with the defaults (`tickTime` 500 ms, free
    /// ports, 30 s to get ready) and waits until all serve and a leader is elected.
    ///
    /// # Errors
    ///
    /// As [`LocalEnsembleBuilder::start`].
    pub async fn start(n: usize) -> Result<Self> {
        Self::builder().members(n).start().await
    }

    /// Options: member count, tick time, session time-outs, start-up timeout.
    pub fn builder() -> LocalEnsembleBuilder {
        LocalEnsembleBuilder { members: 3, settings: Settings::default() }
    }

    /// Every member: `127.0.0.1:p1,127.0.0.1:p2,...`.
    pub fn connect_string(&self) -> String {
        self.members.iter().map(|m| format!("127.0.0.1:{}", m.client_port())).collect::<Vec<_>>().join(",")
    }

    /// How many members the ensemble has (running or not).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: an ensemble has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Member `i` alone: `127.0.0.1:PORT`.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    pub fn member_connect_string(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].client_port())
    }

    /// The file that receives member `i`'s JVM output.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    pub fn member_log_path(&self, i: usize) -> PathBuf {
        self.members[i].log_path()
    }

    /// Member `i`'s JVM process id, once it has been started.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    pub fn member_pid(&self, i: usize) -> Option<u32> {
        self.members[i].pid()
    }

    /// Whether member `i`'s JVM is running.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    pub fn is_running(&mut self, i: usize) -> bool {
        self.members[i].is_running()
    }

    /// Sends a four-letter word to member `i` and returns the whole answer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if there is no member `i` or `cmd` is not four lowercase
    /// letters, [`Error::Io`] if the member cannot be reached, [`Error::Timeout`] if it does not
    /// answer within 5 s.
    pub async fn four_letter(&self, i: usize, cmd: &str) -> Result<String> {
        let port = self.checked(i)?;
        probe::four_letter(port, cmd).await
    }

    /// The index of the member whose `srvr` says `Mode: leader`, waiting for an election for up
    /// to the start-up timeout (30 s by default).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if no member is leader within that time (the message lists each
    /// member's last mode).
    pub async fn leader(&self) -> Result<usize> {
        self.wait_for_leader(self.settings.startup_timeout).await
    }

    /// Polls `srvr` on every member (every 50 ms) until one says `Mode: leader` (a one-member
    /// ensemble runs standalone and counts as its own leader) and returns its index.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if no member is leader within `timeout` (the message lists each
    /// member's last mode).
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            let modes = self.modes().await;
            if let Some(leader) = modes.iter().position(|m| is_leader(m.as_deref())) {
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("a leader in the local ensemble ({})", describe_modes(&modes)),
                    after: timeout,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Stops member `i`: SIGTERM, then waits for its JVM to exit (SIGKILL after 5 s). Does
    /// nothing if it is not running.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if there is no member `i`, [`Error::Signal`] if its JVM cannot
    /// be signalled.
    pub async fn stop(&mut self, i: usize) -> Result<()> {
        self.checked(i)?;
        self.members[i].stop().await
    }

    /// Kills member `i`: SIGKILL, then waits for its JVM to exit. Does nothing if it is not
    /// running.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if there is no member `i`, [`Error::Signal`] if its JVM cannot
    /// be signalled.
    pub async fn kill(&mut self, i: usize) -> Result<()> {
        self.checked(i)?;
        self.members[i].kill().await
    }

    /// Starts member `i` again with its ports and data (stopping it first if it runs) and waits
    /// for `imok`; then, if a majority of members is running, also waits until it has joined the
    /// quorum (as follower, or leader). A member restarted without a majority can only answer
    /// `ruok`, so this returns once it does.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if there is no member `i`; [`Error::Start`] if it exits, is not
    /// ready or does not join the quorum within the start-up timeout (with the tail of its log;
    /// it is killed then); [`Error::Signal`] if it runs and cannot be stopped first.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.checked(i)?;
        let timeout = self.settings.startup_timeout;
        let member = &mut self.members[i];
        member.stop().await?;
        let deadline = Instant::now() + timeout;
        member.mark_log("restart");
        member.spawn(&self.launch).await?;
        let result = match member.wait_ready(deadline, timeout).await {
            Ok(()) if self.has_majority() => self.wait_serving(&[i], deadline, timeout).await,
            other => other,
        };
        result.map_err(|failure| {
            self.members[i].kill_now();
            failure.error
        })
    }

    /// Stops every running member (SIGTERM to all, then waits; SIGKILL after 5 s).
    ///
    /// # Errors
    ///
    /// [`Error::Signal`] if a JVM cannot be signalled.
    pub async fn stop_all(&mut self) -> Result<()> {
        for member in &mut self.members {
            member.request_stop()?;
        }
        for member in &mut self.members {
            member.stop().await?;
        }
        Ok(())
    }

    /// Stops every running member, starts all again with their ports and data, and waits as
    /// [`LocalEnsemble::start`] does (every member serving, a leader elected).
    ///
    /// # Errors
    ///
    /// [`Error::Start`] if a member exits or the quorum does not form within the start-up
    /// timeout (no retry on other ports; every member is killed then); [`Error::Signal`] if a
    /// running member cannot be stopped first.
    pub async fn restart_all(&mut self) -> Result<()> {
        self.stop_all().await?;
        for member in &mut self.members {
            member.mark_log("restart");
        }
        match self.launch_all().await {
            Ok(()) => Ok(()),
            Err(failure) => {
                self.members.iter_mut().for_each(Node::kill_now);
                Err(failure.error)
            }
        }
    }

    fn checked(&self, i: usize) -> Result<u16> {
        self.members.get(i).map(Node::client_port).ok_or_else(|| {
            let n = self.len();
            Error::invalid(format!("no member {i}: the ensemble has {n} (0 to {})", n - 1))
        })
    }

    fn has_majority(&mut self) -> bool {
        let running = self.members.iter_mut().map(Node::is_running).filter(|r| *r).count();
        running > self.members.len() / 2
    }

    /// Spawns every member and waits until all serve and there is a leader.
    async fn launch_all(&mut self) -> Result<(), StartFailure> {
        let timeout = self.settings.startup_timeout;
        let deadline = Instant::now() + timeout;
        for member in &mut self.members {
            member.spawn(&self.launch).await?;
        }
        for member in &mut self.members {
            member.wait_ready(deadline, timeout).await?;
        }
        let all: Vec<usize> = (0..self.members.len()).collect();
        self.wait_serving(&all, deadline, timeout).await
    }

    /// Waits until each member in `which` is leader or follower and some member is leader.
    async fn wait_serving(
        &mut self,
        which: &[usize],
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), StartFailure> {
        loop {
            for &i in which {
                if !self.members[i].is_running() {
                    return Err(self.members[i].failure(format!(
                        "ensemble member {i} (127.0.0.1:{}) exited before it joined the quorum",
                        self.members[i].client_port()
                    )));
                }
            }
            let modes = self.modes().await;
            let serving =
                |i: usize| matches!(modes[i].as_deref(), Some("leader" | "follower" | "standalone"));
            if which.iter().all(|&i| serving(i)) && modes.iter().any(|m| is_leader(m.as_deref())) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let mut reason = format!(
                    "the ensemble did not form a quorum within {timeout:?} ({})",
                    describe_modes(&modes)
                );
                let mut port_conflict = false;
                for &i in which.iter().filter(|&&i| !serving(i)) {
                    let member = &self.members[i];
                    port_conflict |= member.port_conflict();
                    let tail = log_tail(&member.log_path(), LOG_TAIL_LINES);
                    let _ = write!(reason, "\nlast lines of {}:\n{tail}", member.log_path().display());
                }
                return Err(StartFailure { error: Error::Start { reason }, port_conflict });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Each member's `srvr` mode; `None` if it is down or not serving.
    async fn modes(&self) -> Vec<Option<String>> {
        let mut modes = Vec::with_capacity(self.members.len());
        for member in &self.members {
            let mode = match probe::four_letter_within(member.client_port(), "srvr", PROBE_TIMEOUT).await {
                Ok(answer) => srvr_mode(&answer).map(str::to_owned),
                Err(_) => None,
            };
            modes.push(mode);
        }
        modes
    }
}

fn is_leader(mode: Option<&str>) -> bool {
    matches!(mode, Some("leader" | "standalone"))
}

fn describe_modes(modes: &[Option<String>]) -> String {
    modes
        .iter()
        .enumerate()
        .map(|(i, m)| format!("member {i}: {}", m.as_deref().unwrap_or("down or not serving")))
        .collect::<Vec<_>>()
        .join(", ")
}
