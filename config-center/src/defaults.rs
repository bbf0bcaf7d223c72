//! Where the defaults (the lowest layer) come from.

use std::path::PathBuf;
use std::sync::Arc;

use crate::document::Text;
use crate::error::{Error, Result};

/// Where the defaults come from.
#[derive(Debug, Clone, Default)]
pub(crate) enum Defaults {
    /// No defaults: the document must hold every required field.
    #[default]
    None,
    /// TOML text.
    Toml(Arc<str>),
    /// A TOML file, read when a watch starts or a document is checked.
    File(PathBuf),
    /// A value serialized to TOML when it was given (or the error that gave).
    Value(std::result::Result<Arc<str>, Error>),
}

impl Defaults {
    pub(crate) async fn load(&self) -> Result<Option<Text>> {
        match self {
            Defaults::None => Ok(None),
            Defaults::Toml(text) => Ok(Some(Text::other("<defaults>".into(), text.to_string()))),
            Defaults::Value(Ok(text)) => Ok(Some(Text::other("<defaults>".into(), text.to_string()))),
            Defaults::Value(Err(e)) => Err(e.clone()),
            Defaults::File(file) => match tokio::fs::read_to_string(file).await {
                Ok(text) => Ok(Some(Text::other(file.display().to_string(), text))),
                Err(e) => Err(Error::io(format!("reading defaults file {}", file.display()), e)),
            },
        }
    }
}
