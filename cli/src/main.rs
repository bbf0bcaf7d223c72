//! `zkmesh`: the operator's command line.
//!
//! Not built yet: the commands land with the cli issue.
#![forbid(unsafe_code)]

fn main() {
    eprintln!("zkmesh: no commands yet (the cli issue lands after the registry and config-center).");
    std::process::exit(2);
}
