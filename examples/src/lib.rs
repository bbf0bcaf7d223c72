//! zkmesh examples: one small program per feature, each a binary of this crate.
//!
//! The programs land with the rpc-demo and examples issue.
#![forbid(unsafe_code)]
