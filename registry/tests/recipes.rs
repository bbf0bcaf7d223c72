//! Coordination recipes against a real ZooKeeper (being built).
