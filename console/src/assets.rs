//! The page's files, embedded in the binary (placeholder until the page lands).

/// The content type and bytes of the asset at `path` (`index.html`, or a file under
/// `assets/`), or `None` when there is none.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    match path {
        "index.html" => Some(("text/html; charset=utf-8", INDEX.as_bytes())),
        _ => None,
    }
}

const INDEX: &str = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>zkmesh console</title></head>\n\
<body><h1>zkmesh console</h1><p>The page is not built yet: see <code>/api/overview</code>.</p></body></html>\n";
