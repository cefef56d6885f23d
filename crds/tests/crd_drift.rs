//! The committed CRD must be exactly what `crdgen` prints (generated artifacts are
//! committed and diffed).

use std::process::Command;

#[test]
fn committed_crd_matches_crdgen() {
    let out = Command::new(env!("CARGO_BIN_EXE_crdgen"))
        .output()
        .expect("crdgen runs");
    assert!(
        out.status.success(),
        "crdgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).expect("crdgen prints UTF-8");
    assert_eq!(
        generated,
        kseal_crds::crd_yaml(),
        "crdgen prints crd_yaml()"
    );

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sealedsecrets.bitnami.com.yaml"
    );
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    // A plain `assert!` with the command, instead of a 170-line diff the developer cannot act on.
    assert!(
        generated == committed,
        "crds/sealedsecrets.bitnami.com.yaml is out of date with the Rust types; regenerate it \
         from the workspace root with\n\n    {}\n",
        kseal_crds::REGENERATE_COMMAND
    );
}
