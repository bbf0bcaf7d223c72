//! zkmesh end-to-end tests and the `zkbench` benchmark (both land with later issues).
#![forbid(unsafe_code)]
