//! Debian's chromium, headless, driven through chromedriver with fantoccini: a chromedriver on
//! a free loopback port, one browser session with a fresh profile, and the few page actions the
//! tests need (find, read, type, click, run a script, screenshot), every wait bounded.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// How long any wait of the browser tests lasts at most.
pub const WAIT: Duration = Duration::from_secs(20);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The flags chromium needs here: headless, no sandbox (root in a container), and nothing that
/// reaches out to the network on its own (this machine's network is closed).
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// `program` (overridable by `env`), or a panic naming the script that installs it: a missing
/// browser fails the test rather than skipping it.
fn required(env: &str, program: &str) -> PathBuf {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(program));
    assert!(
        path.is_file(),
        "{} is missing: the console's browser tests need Debian's chromium and chromium-driver; \
         install them with `bash scripts/install-zookeeper` (as root), or set {env}",
        path.display()
    );
    path
}

/// A free loopback port (bound then released: chromedriver takes it right after).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("its address").port()
}

/// A headless chromium session and the chromedriver process serving it.
pub struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless chromium with a fresh profile.
    pub async fn start() -> Browser {
        let chromium = required("CHROMIUM", CHROMIUM);
        let chromedriver = required("CHROMEDRIVER", CHROMEDRIVER);
        let port = free_port();
        let mut command = Command::new(&chromedriver);
        command
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .process_group(0);
        let driver = command.spawn().unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().expect("a profile directory");
        let client = connect(port, &chromium, profile.path()).await;
        Browser { client, driver, _profile: profile }
    }

    /// The page this browser shows.
    pub fn page(&self) -> Page<'_> {
        Page { client: &self.client }
    }

    /// Ends the browser session (chromium exits), then chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.kill_group();
        let _ = self.driver.wait().await;
    }

    fn kill_group(&mut self) {
        if let Some(pid) = self.driver.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test never reaches close(): take chromium down with chromedriver's group.
        self.kill_group();
    }
}

/// Connects to chromedriver on `port` once it listens (bounded), asking for headless chromium.
async fn connect(port: u16, chromium: &Path, profile: &Path) -> Client {
    let mut args: Vec<String> = FLAGS.iter().map(|f| (*f).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium.display().to_string(), "args": args },
    });
    let Value::Object(capabilities) = capabilities else { unreachable!("an object literal") };
    let url = format!("http://127.0.0.1:{port}");
    let mut last = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        match ClientBuilder::new(HttpConnector::new()).capabilities(capabilities.clone()).connect(&url).await
        {
            Ok(client) => return client,
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no browser session from chromedriver on {url} within {WAIT:?}: {last}");
}

/// The page of a [`Browser`].
#[derive(Clone, Copy)]
pub struct Page<'a> {
    client: &'a Client,
}

impl Page<'_> {
    /// Loads `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Runs `script` (a function body: `return ...`) in the page.
    pub async fn run(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap_or_else(|e| panic!("run {script}: {e}"))
    }

    /// The elements matching `css` now (maybe none).
    pub async fn all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap_or_default()
    }

    /// Polls `check` until it gives `Some` (bounded by [`WAIT`]); on a timeout, saves a
    /// screenshot (`target/console/failed-*.png`) and panics with `what` and the page's text.
    pub async fn until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if tokio::time::Instant::now() >= deadline {
                let shown = self.client.execute("return document.body.innerText", Vec::new()).await;
                let name: String =
                    what.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
                let shot = self.screenshot(&format!("failed-{}", &name[..name.len().min(60)])).await;
                panic!(
                    "not within {WAIT:?}: {what}\nscreenshot: {}\nthe page shows:\n{shown:?}",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        self.until(&format!("an element matching {css}"), || async { self.all(css).await.into_iter().next() })
            .await
    }

    /// Waits until the text of an element matching `css` satisfies `want`; returns that text.
    pub async fn text_until(&self, css: &str, what: &str, want: impl Fn(&str) -> bool) -> String {
        self.until(what, || async {
            for element in self.all(css).await {
                if let Ok(text) = element.text().await {
                    if want(&text) {
                        return Some(text);
                    }
                }
            }
            None
        })
        .await
    }

    /// Clicks the first element matching `css` (waits for it).
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces the value of the field matching `css` with `text`, as typed, and fires
    /// `input` and `change` (what the page listens to).
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
        let script = "arguments[0].dispatchEvent(new Event('input')); arguments[0].dispatchEvent(new Event('change'));";
        let element = serde_json::to_value(&field).expect("an element reference");
        self.client.execute(script, vec![element]).await.unwrap_or_else(|e| panic!("events on {css}: {e}"));
    }

    /// Saves a PNG screenshot as `target/console/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

/// `target/console/` of the workspace (or of `CARGO_TARGET_DIR`).
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("console")
}
