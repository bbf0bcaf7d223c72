//! Coordination recipes from the ZooKeeper literature (being built).
