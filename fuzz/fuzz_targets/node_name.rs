//! Arbitrary UTF-8 → `ServiceUrl::from_node_name`. A name that decodes must give a URL that
//! survives every round trip and keeps its documented properties; a refused name must be refused
//! with `Error::InvalidUrl` carrying the name. Decoding is `%XX` and `+` → space, then `parse`,
//! so a name with neither `%` nor `+` must decode exactly when it parses, to the same URL.
#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use registry::ServiceUrl;

fuzz_target!(|data: &[u8]| -> Corpus {
    let Ok(name) = std::str::from_utf8(data) else { return Corpus::Reject };
    let decoded = ServiceUrl::from_node_name(name);
    if !name.contains(['%', '+']) {
        let parsed = ServiceUrl::parse(name);
        assert_eq!(
            decoded.as_ref().ok(),
            parsed.as_ref().ok(),
            "from_node_name and parse disagree on {name:?}"
        );
    }
    match decoded {
        Ok(u) => zkmesh_fuzz::check_url(&u),
        Err(err) => zkmesh_fuzz::check_error(name, err),
    }
    Corpus::Keep
});
