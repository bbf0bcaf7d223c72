//! zkmesh console: a web console and a JSON API over a zkmesh root, served by hyper.
//!
//! [`Console::builder`] takes the address to listen on (default `127.0.0.1:9090`, loopback
//! only), an optional write token (without one every write is refused with 403) and the roots
//! to read; [`ConsoleBuilder::serve`] binds and serves on a [`registry::Session`] until the
//! returned [`ConsoleHandle`] is shut down or dropped.
//!
//! The page (`GET /`, `GET /assets/<file>`) is embedded in the binary; its reads and writes go
//! through the JSON API under `/api/` that `console/API.md` documents, so scripts can use it
//! too. Every write carries `Authorization: Bearer <token>` (compared in constant time);
//! ZooKeeper credentials stay in the session and never reach a response.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let session = registry::Session::connect("127.0.0.1:2181").await?;
//! let console = zkmesh_console::Console::builder()
//!     .listen("127.0.0.1:9090".parse()?)
//!     .write_token(Some("s3cret".to_owned()))
//!     .serve(session)
//!     .await?;
//! println!("console on http://{}", console.local_addr());
//! console.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assets;
mod auth;
mod config_api;
mod console;
mod diff;
mod error;
mod events;
mod failure;
mod health;
mod input;
mod members;
mod overview;
mod recipes_api;
mod reply;
mod router;
mod routes;
mod rules_api;
mod server;
mod services;

pub use self::console::{Console, ConsoleBuilder, ConsoleHandle, DEFAULT_LISTEN, DEFAULT_MAX_BODY};
pub use self::error::{Error, Result};
pub use self::events::KEEP_ALIVE;
