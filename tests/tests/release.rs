//! The release workflow (`.github/workflows/release.yml`) builds what users are told to
//! download: every `releases/download/v<version>/<archive>` URL in the example workflows names an
//! archive the workflow builds for one of its targets, and the version they pin is the
//! workspace's (the workflow refuses a tag that differs from it).

use std::{fs, path::Path};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The `target:` entries of the release workflow's build matrix.
fn release_targets() -> Vec<String> {
    let text = fs::read_to_string(repo().join(".github/workflows/release.yml"))
        .expect("read .github/workflows/release.yml");
    let targets: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- target:"))
        .map(|t| t.trim().to_owned())
        .collect();
    assert!(!targets.is_empty(), "release.yml builds no target");
    targets
}

/// `(version, archive)` of every release download in the example workflows.
fn downloads() -> Vec<(String, String, String)> {
    let dir = repo().join("examples/.github/workflows");
    let mut found = Vec::new();
    for entry in fs::read_dir(&dir).expect("read examples/.github/workflows") {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let pinned = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("KSEAL_VERSION:"))
            .map(|v| v.trim().to_owned());
        for (_, rest) in text
            .match_indices("releases/download/")
            .map(|(i, _)| text.split_at(i))
        {
            let url = rest
                .split(|c: char| c == '"' || c.is_whitespace())
                .next()
                .unwrap();
            let archive = url.rsplit('/').next().unwrap().to_owned();
            let version = pinned.clone().unwrap_or_else(|| {
                panic!(
                    "{} downloads kseal but pins no KSEAL_VERSION",
                    path.display()
                )
            });
            found.push((path.display().to_string(), version, archive));
        }
    }
    assert!(
        !found.is_empty(),
        "the example workflows download no kseal release"
    );
    found
}

#[test]
fn example_downloads_are_built_by_the_release_workflow() {
    let archives: Vec<String> = release_targets()
        .iter()
        .map(|t| format!("kseal-{t}.tar.gz"))
        .collect();
    for (file, version, archive) in downloads() {
        assert!(
            archives.contains(&archive),
            "{file} downloads {archive}, which release.yml does not build (it builds {archives:?})"
        );
        assert_eq!(
            version,
            env!("CARGO_PKG_VERSION"),
            "{file} pins kseal {version}, the workspace is {}",
            env!("CARGO_PKG_VERSION")
        );
    }
}
