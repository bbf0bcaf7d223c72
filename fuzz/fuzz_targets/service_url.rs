//! Arbitrary UTF-8 → `ServiceUrl::parse`. A URL that parses must survive every round trip
//! (`to_string`, `to_node_name`/`from_node_name`) and keep its documented properties; a refused
//! input must be refused with `Error::InvalidUrl` carrying the input. Nothing may panic.
#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use registry::ServiceUrl;

fuzz_target!(|data: &[u8]| -> Corpus {
    // Only UTF-8 reaches the parser (it takes &str); reject the rest so it stays out of the corpus.
    let Ok(s) = std::str::from_utf8(data) else { return Corpus::Reject };
    match ServiceUrl::parse(s) {
        Ok(u) => zkmesh_fuzz::check_url(&u),
        Err(err) => zkmesh_fuzz::check_error(s, err),
    }
    Corpus::Keep
});
