mod connection;

pub use self::connection::{Mode, Proxy, ProxyMonitor, ProxyStats};
