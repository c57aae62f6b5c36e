//! Generates host bindings for Spin's interfaces from the WIT inside the
//! spin-sdk crate that the components are built with, located through
//! `cargo metadata`, so the host and the guests can never disagree.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
        ])
        .arg(workspace.join("Cargo.toml"))
        .output()
        .expect("cannot run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata printed invalid JSON");
    // WASIp2 components use spin-sdk 5.2 (`fermyon:spin@2.0.0`), WASIp3 ones
    // spin-sdk 6.0 (`spin:*@3.x`, ADR 0033).
    let wit = sdk_wit(&metadata, "5.2.");
    let wit3 = sdk_wit(&metadata, "6.0.");

    let bindings = format!(
        r#"wasmtime::component::bindgen!({{
    path: {wit:?},
    inline: "
        package host:spin;
        world spin-imports {{
            import fermyon:spin/key-value@2.0.0;
            import fermyon:spin/sqlite@2.0.0;
            import fermyon:spin/variables@2.0.0;
            import wasi:keyvalue/store@0.2.0-draft2;
            import wasi:keyvalue/batch@0.2.0-draft2;
            import wasi:keyvalue/atomics@0.2.0-draft2;
        }}
    ",
    world: "host:spin/spin-imports",
    imports: {{ default: async | trappable }},
    with: {{
        "fermyon:spin/key-value.store": crate::spin_interfaces::KeyValueHandle,
        "fermyon:spin/sqlite.connection": crate::spin_interfaces::SqliteHandle,
        "wasi:keyvalue/store.bucket": crate::spin_interfaces::BucketHandle,
        "wasi:keyvalue/atomics.cas": crate::spin_interfaces::CasHandle,
    }},
}});
"#,
        wit = wit.display().to_string()
    );
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("spin_bindings.rs"), bindings).unwrap();

    let bindings3 = format!(
        r#"wasmtime::component::bindgen!({{
    path: {wit3:?},
    inline: "
        package host:spin3;
        world spin3-imports {{
            import spin:key-value/key-value@3.0.0;
            import spin:sqlite/sqlite@3.1.0;
            import spin:variables/variables@3.0.0;
        }}
    ",
    world: "host:spin3/spin3-imports",
    imports: {{ default: async | trappable }},
    with: {{
        "spin:key-value/key-value.store": crate::spin3_interfaces::KeyValueHandle,
        "spin:sqlite/sqlite.connection": crate::spin3_interfaces::SqliteHandle,
    }},
}});
"#,
        wit3 = wit3.display().to_string()
    );
    std::fs::write(out_dir.join("spin3_bindings.rs"), bindings3).unwrap();
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");
}

/// The `wit` directory of the spin-sdk release whose version starts with
/// `version` in the workspace's dependency graph.
fn sdk_wit(metadata: &serde_json::Value, version: &str) -> PathBuf {
    let sdk_manifest = metadata["packages"]
        .as_array()
        .expect("no packages in cargo metadata")
        .iter()
        .find(|p| {
            p["name"] == "spin-sdk"
                && p["version"]
                    .as_str()
                    .is_some_and(|v| v.starts_with(version))
        })
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| {
            panic!("spin-sdk {version}x is not in the workspace's dependency graph")
        });
    let wit = PathBuf::from(sdk_manifest).parent().unwrap().join("wit");
    assert!(wit.is_dir(), "no WIT at {}", wit.display());
    wit
}
