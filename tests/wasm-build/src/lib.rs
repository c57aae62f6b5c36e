//! Where the workspace's Spin components were built (by this crate's build script).

/// Directory holding `<package>.wasm` for every component.
pub const WASM_DIR: &str = env!("WASM_DIR");
