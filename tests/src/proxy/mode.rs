//! The [`Mode`], the state a connection watches, and how a connection waits on it.

use tokio::sync::watch;

/// What the proxy does with bytes and connections; see the `proxy` module's docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Move no bytes, keep connections open; resume on `Pass`.
    Pause,
    /// Like `Pause` for open connections; new ones are accepted and never forwarded.
    Blackhole,
    /// Reset every connection, open or new.
    Reset,
}

/// The mode and how many resets were ordered; a connection made before the latest reset ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct State {
    pub(super) mode: Mode,
    pub(super) resets: u64,
}

/// How one direction, or a whole connection, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// End of stream from the reading side (passed on as a write shutdown).
    Eof,
    /// A read or write failed (the peer reset or went away).
    Error,
    /// Reset by the proxy.
    Reset,
    /// The proxy was dropped.
    Closed,
}

fn is_reset(state: &State, epoch: u64) -> bool {
    state.mode == Mode::Reset || state.resets != epoch
}

/// Waits until bytes may flow (`Pass`); `Err` when the connection must end instead.
pub(super) async fn wait_pass(rx: &mut watch::Receiver<State>, epoch: u64) -> Result<(), End> {
    loop {
        {
            let state = rx.borrow_and_update();
            if is_reset(&state, epoch) {
                return Err(End::Reset);
            }
            if state.mode == Mode::Pass {
                return Ok(());
            }
        }
        rx.changed().await.map_err(|_| End::Closed)?;
    }
}

/// Resolves when bytes must stop (`Ok`) or the connection must end (`Err`).
pub(super) async fn wait_not_pass(rx: &mut watch::Receiver<State>, epoch: u64) -> Result<(), End> {
    loop {
        rx.changed().await.map_err(|_| End::Closed)?;
        let state = *rx.borrow_and_update();
        if is_reset(&state, epoch) {
            return Err(End::Reset);
        }
        if state.mode != Mode::Pass {
            return Ok(());
        }
    }
}

/// Resolves when the connection must end.
pub(super) async fn wait_end(rx: &mut watch::Receiver<State>, epoch: u64) -> End {
    loop {
        if rx.changed().await.is_err() {
            return End::Closed;
        }
        if is_reset(&rx.borrow_and_update(), epoch) {
            return End::Reset;
        }
    }
}
