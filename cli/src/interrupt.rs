//! Ctrl-C, with the handler installed before the command says it is ready.
//!
//! `tokio::signal::ctrl_c()` installs its handler only when first polled, so a SIGINT that
//! arrives between "registered ..." being printed and the wait starting would kill the process
//! with the default action, skipping the deregistration. [`Interrupt::new`] installs it at once.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// A SIGINT listener, installed when created.
pub struct Interrupt(Signal);

impl Interrupt {
    /// Installs the SIGINT handler now.
    pub fn new() -> Result<Self, String> {
        signal(SignalKind::interrupt()).map(Interrupt).map_err(|e| format!("cannot handle Ctrl-C: {e}"))
    }

    /// Resolves on the next Ctrl-C (SIGINT).
    pub async fn recv(&mut self) {
        self.0.recv().await;
    }
}
