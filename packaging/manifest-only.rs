//! Not built: packaging/Cargo.toml is package metadata only (see the comment there).
