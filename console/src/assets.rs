//! The console's page, embedded in the binary: `GET /` serves `index.html` and
//! `GET /assets/<file>` the scripts and the style sheet, so `zkmesh console` needs no files
//! beside it and no build step (plain ES modules, no external fetches).

/// One embedded file: its name under `/assets/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../assets/index.html"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/style.css"),
    },
    Asset { name: "app.js", content_type: JS, body: include_bytes!("../assets/app.js") },
    Asset { name: "api.js", content_type: JS, body: include_bytes!("../assets/api.js") },
    Asset { name: "dom.js", content_type: JS, body: include_bytes!("../assets/dom.js") },
    Asset { name: "outcome.js", content_type: JS, body: include_bytes!("../assets/outcome.js") },
    Asset { name: "editor.js", content_type: JS, body: include_bytes!("../assets/editor.js") },
    Asset { name: "services.js", content_type: JS, body: include_bytes!("../assets/services.js") },
    Asset { name: "service.js", content_type: JS, body: include_bytes!("../assets/service.js") },
    Asset { name: "config.js", content_type: JS, body: include_bytes!("../assets/config.js") },
    Asset { name: "recipes.js", content_type: JS, body: include_bytes!("../assets/recipes.js") },
];

/// The embedded file at request path `path` as `(content type, bytes)`: `/` and
/// `/index.html` give the page, `/assets/<file>` (or plain `<file>`) one of its files.
/// `None` for anything else, including paths that try to leave the asset folder.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let name = match path.trim_start_matches('/') {
        "" => "index.html",
        other => other.strip_prefix("assets/").unwrap_or(other),
    };
    ASSETS.iter().find(|a| a.name == name).map(|a| (a.content_type, a.body))
}

#[cfg(test)]
mod tests {
    use super::asset;

    #[test]
    fn the_root_serves_the_page_as_html() {
        let (kind, body) = asset("/").expect("the page");
        assert!(kind.starts_with("text/html"));
        assert!(std::str::from_utf8(body).expect("utf-8").contains("/assets/app.js"));
        assert_eq!(asset("/index.html"), asset("/"));
    }

    #[test]
    fn scripts_and_the_style_sheet_are_served_under_assets() {
        assert!(asset("/assets/app.js").expect("app.js").0.starts_with("text/javascript"));
        assert!(asset("/assets/style.css").expect("style.css").0.starts_with("text/css"));
        assert!(asset("/assets/app.js?v=1").is_some());
    }

    #[test]
    fn unknown_paths_and_escapes_are_not_found() {
        assert_eq!(asset("/assets/nope.js"), None);
        assert_eq!(asset("/assets/../Cargo.toml"), None);
        assert_eq!(asset("/api/services"), None);
    }

    #[test]
    fn every_module_the_scripts_import_is_embedded() {
        for file in [
            "app.js",
            "api.js",
            "dom.js",
            "outcome.js",
            "editor.js",
            "services.js",
            "service.js",
            "config.js",
            "recipes.js",
        ] {
            let (_, body) = asset(&format!("/assets/{file}")).expect("embedded");
            let text = std::str::from_utf8(body).expect("utf-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target =
                    line.rsplit("'./").next().and_then(|t| t.split('\'').next()).expect("an import path");
                assert!(
                    asset(&format!("/assets/{target}")).is_some(),
                    "{file} imports {target}, which is not embedded"
                );
            }
        }
    }

    #[test]
    fn no_script_writes_html_from_strings() {
        for file in [
            "app.js",
            "api.js",
            "dom.js",
            "outcome.js",
            "editor.js",
            "services.js",
            "service.js",
            "config.js",
            "recipes.js",
        ] {
            let (_, body) = asset(&format!("/assets/{file}")).expect("embedded");
            let text = std::str::from_utf8(body).expect("utf-8");
            for banned in [".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("] {
                assert!(!text.contains(banned), "{file} uses {banned}");
            }
        }
    }
}
