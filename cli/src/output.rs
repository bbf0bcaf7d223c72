//! Tables for people, JSON for programs, and [`line()`], which every command prints through.

use std::io::Write;

use serde_json::Value;

/// Prints one line on standard output. When the reader has gone (`zkmesh providers x | head -1`)
/// the command ends quietly with status 0, as other command-line tools do, instead of panicking
/// like `println!`.
pub fn line(text: impl std::fmt::Display) {
    write(format_args!("{text}\n"));
}

/// Prints `text` as it is (a document that brings its own line ends), like [`line()`].
pub fn write(text: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = write!(out, "{text}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("zkmesh: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`line()`].
#[macro_export]
macro_rules! out {
    () => { $crate::output::line("") };
    ($($arg:tt)*) => { $crate::output::line(format_args!($($arg)*)) };
}

/// Prints `rows` as an aligned table under `headers`.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        line(padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints one JSON document (or one JSON line).
pub fn json(value: &Value) {
    line(value);
}

/// `"-"` for an absent value.
pub fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}
