//! Helpers shared by the integration tests in `tests/it/`: where the
//! workspace is, the `mutualaid` binary (built once), and fixture sites
//! copied into temporary folders so each test can change its own copy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

/// The real content folder.
pub fn real_content() -> PathBuf {
    workspace().join("content")
}

/// The `mutualaid` binary of this build profile, built on first use (a
/// no-op when `cargo build` already built it).
pub fn mutualaid_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "mutualaid", "--bin", "mutualaid"])
            .current_dir(workspace())
            .status()
            .expect("running cargo build for the mutualaid binary");
        assert!(status.success(), "cargo build -p mutualaid failed");
        // target/<profile>/deps/it-<hash> → target/<profile>/mutualaid
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let bin = profile_dir.join("mutualaid");
        assert!(bin.is_file(), "no binary at {}", bin.display());
        bin
    })
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the copy");
    for entry in std::fs::read_dir(from).expect("reading the fixture") {
        let entry = entry.expect("a fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a fixture file");
        }
    }
}

/// A temporary copy of the fixture site `tests/fixtures/site`, with the
/// real interface texts (`content/i18n`) so the forms are complete.
pub fn fixture_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    copy_tree(&workspace().join("tests/fixtures/site"), dir.path());
    copy_tree(&real_content().join("i18n"), &dir.path().join("i18n"));
    dir
}
