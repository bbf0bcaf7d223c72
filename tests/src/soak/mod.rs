mod engine;

pub use self::engine::{soak, Resources, SoakReport};
