//! The console's error type.

/// What can go wrong starting the console.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A setting given to the builder is not valid.
    #[error("invalid console setting {setting}: {reason}")]
    InvalidSetting {
        /// Which setting.
        setting: &'static str,
        /// Why.
        reason: String,
    },
}

/// The console's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
