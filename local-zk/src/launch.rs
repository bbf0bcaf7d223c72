//! Finding Java and ZooKeeper's jars, and the command line of a server's JVM.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where Debian's `zookeeper` package (and its dependencies) put their jars.
pub(crate) const DEFAULT_JAR_DIR: &str = "/usr/share/java";

const INSTALL_ZOOKEEPER: &str =
    "install Debian's package: `apt-get update && apt-get install -y --no-install-recommends zookeeper`";
const INSTALL_JAVA: &str = "install Debian's package: \
     `apt-get update && apt-get install -y --no-install-recommends default-jre-headless`";

/// The jars a server needs, out of `/usr/share/java`. Naming them (rather than `/usr/share/java/*`,
/// several hundred jars on a developer machine) starts the JVM faster and lets us pick the
/// logging binding.
pub(crate) const SERVER_JARS: &[&str] = &[
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "netty-handler.jar",
    "netty-common.jar",
    "netty-buffer.jar",
    "netty-transport.jar",
    "netty-resolver.jar",
    "netty-codec.jar",
    "netty-transport-native-epoll.jar",
    "netty-transport-native-unix-common.jar",
    "slf4j-api.jar",
    "metrics-core.jar",
    "snappy-java.jar",
    "commons-cli.jar",
];
/// slf4j's simple binding: one line per event on stderr (our log file), level set below.
const LOG_BINDING: &str = "slf4j-simple.jar";

/// How to run a JVM with ZooKeeper on its class path.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    java: PathBuf,
    classpath: OsString,
}

impl Launch {
    /// Reads `JAVA`, `ZOOKEEPER_CLASSPATH` and `PATH`, and checks that Java and the jars exist.
    pub(crate) fn from_env() -> Result<Self> {
        Self::resolve(
            std::env::var_os("JAVA"),
            std::env::var_os("ZOOKEEPER_CLASSPATH"),
            Path::new(DEFAULT_JAR_DIR),
            std::env::var_os("PATH"),
        )
    }

    /// [`Launch::from_env`] with the environment given, for tests.
    pub(crate) fn resolve(
        java: Option<OsString>,
        classpath: Option<OsString>,
        jar_dir: &Path,
        path_var: Option<OsString>,
    ) -> Result<Self> {
        let java = find_java(java.filter(|j| !j.is_empty()), path_var)?;
        let classpath = match classpath.filter(|c| !c.is_empty()) {
            Some(classpath) => classpath,
            None => default_classpath(jar_dir)?,
        };
        Ok(Launch { java, classpath })
    }

    /// The java binary.
    pub(crate) fn java(&self) -> &Path {
        &self.java
    }

    /// The command line after the java binary.
    pub(crate) fn jvm_args(&self, main_class: &str, config: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "-Xmx256m",
            // Start-up and footprint matter here, peak throughput does not: one GC thread, and
            // the quick C1 compiler only (a 3-member ensemble forms ~15% sooner on 2 cores).
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Dzookeeper.admin.enableServer=false",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        // SASL: the JAAS file next to zoo.cfg, by path (the passwords stay in the file).
        if let Some(jaas) =
            config.parent().map(|dir| dir.join(crate::sasl::JAAS_FILE)).filter(|p| p.is_file())
        {
            let mut property = OsString::from("-Djava.security.auth.login.config=");
            property.push(jaas);
            args.push(property);
        }
        if let Some(conf) =
            config.parent().map(|dir| dir.join(crate::sasl::KRB5_CONF_FILE)).filter(|p| p.is_file())
        {
            let mut property = OsString::from("-Djava.security.krb5.conf=");
            property.push(conf);
            args.push(property);
        }
        args.push("-cp".into());
        args.push(self.classpath.clone());
        args.push(main_class.into());
        args.push(config.into());
        args
    }
}

pub(crate) fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn find_java(java: Option<OsString>, path_var: Option<OsString>) -> Result<PathBuf> {
    let name = java.clone().unwrap_or_else(|| OsString::from("java"));
    let found = if Path::new(&name).components().count() > 1 {
        Some(PathBuf::from(&name)).filter(|p| is_executable_file(p))
    } else {
        path_var
            .as_deref()
            .map(std::env::split_paths)
            .into_iter()
            .flatten()
            .map(|dir| dir.join(&name))
            .find(|candidate| is_executable_file(candidate))
    };
    found.ok_or_else(|| {
        let what = match &java {
            Some(java) => format!("JAVA={} is not an executable", Path::new(java).display()),
            None => "no `java` on PATH".to_owned(),
        };
        Error::not_installed(format!("Java not found ({what}): {INSTALL_JAVA}, or set JAVA to a java binary"))
    })
}

fn default_classpath(jar_dir: &Path) -> Result<OsString> {
    if !jar_dir.join("zookeeper.jar").is_file() {
        return Err(Error::not_installed(format!(
            "ZooKeeper jars not found in {} (no zookeeper.jar): {INSTALL_ZOOKEEPER}, or set ZOOKEEPER_CLASSPATH",
            jar_dir.display()
        )));
    }
    let mut jars: Vec<PathBuf> = SERVER_JARS.iter().map(|jar| jar_dir.join(jar)).collect();
    if !jars.iter().all(|jar| jar.is_file()) {
        // Some other layout: let the JVM take everything (slower, and noisier logging).
        let mut all = jar_dir.as_os_str().to_owned();
        all.push("/*");
        return Ok(all);
    }
    let binding = jar_dir.join(LOG_BINDING);
    if binding.is_file() {
        jars.push(binding);
    }
    std::env::join_paths(jars).map_err(|e| Error::start(format!("cannot build a class path: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn fake_dir(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            fs::write(dir.path().join(file), b"").unwrap();
        }
        dir
    }

    fn fake_java() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let java = dir.path().join("java");
        fs::write(&java, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(&java, fs::Permissions::from_mode(0o755)).unwrap();
        (dir, java)
    }

    #[test]
    fn missing_java_says_what_to_install() {
        let jars = fake_dir(&["zookeeper.jar"]);
        let empty = tempfile::tempdir().unwrap();
        let err = Launch::resolve(None, None, jars.path(), Some(empty.path().into())).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::NotInstalled { .. }), "{err:?}");
        assert!(text.contains("no `java` on PATH"), "{text}");
        assert!(text.contains("apt-get install -y --no-install-recommends default-jre-headless"), "{text}");
        assert!(text.contains("set JAVA"), "{text}");

        let err = Launch::resolve(Some("/nonexistent/java".into()), None, jars.path(), None).unwrap_err();
        assert!(err.to_string().contains("JAVA=/nonexistent/java is not an executable"), "{err}");
    }

    #[test]
    fn missing_zookeeper_jar_says_what_to_install() {
        let (_keep, java) = fake_java();
        let jars = fake_dir(&["slf4j-api.jar"]);
        let err = Launch::resolve(Some(java.into()), None, jars.path(), None).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::NotInstalled { .. }), "{err:?}");
        assert!(text.contains("no zookeeper.jar"), "{text}");
        assert!(
            text.contains("`apt-get update && apt-get install -y --no-install-recommends zookeeper`"),
            "{text}"
        );
        assert!(text.contains("or set ZOOKEEPER_CLASSPATH"), "{text}");
    }

    #[test]
    fn java_is_found_on_path_and_classpath_is_narrow_when_possible() {
        let (java_dir, java) = fake_java();
        let mut files: Vec<&str> = SERVER_JARS.to_vec();
        files.push(LOG_BINDING);
        let jars = fake_dir(&files);
        let launch = Launch::resolve(None, None, jars.path(), Some(java_dir.path().into())).unwrap();
        assert_eq!(launch.java, java);
        let cp = launch.classpath.to_str().unwrap().to_owned();
        assert_eq!(cp.split(':').count(), SERVER_JARS.len() + 1, "{cp}");
        assert!(cp.contains("slf4j-simple.jar"));

        // Only zookeeper.jar: fall back to the whole directory.
        let sparse = fake_dir(&["zookeeper.jar"]);
        let launch = Launch::resolve(Some(java.clone().into()), None, sparse.path(), None).unwrap();
        assert_eq!(launch.classpath, OsString::from(format!("{}/*", sparse.path().display())));

        // ZOOKEEPER_CLASSPATH wins and is not checked.
        let launch =
            Launch::resolve(Some(java.into()), Some("/x/*".into()), Path::new("/nowhere"), None).unwrap();
        assert_eq!(launch.classpath, OsString::from("/x/*"));
    }
}
