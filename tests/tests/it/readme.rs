//! The README's code map tells the truth about the tree: every folder at
//! the top and every crate of the workspace has its row, and every path a
//! row names is there. The tree is what git tracks: a `public/` or
//! `.data/` the run command wrote is not in it.

use std::collections::BTreeSet;

/// The first cell of each row of the README's "Code map" table, split into
/// the paths it names (`forms/`, or `Cargo.toml`, `src/`).
fn mapped_paths(readme: &str) -> Vec<String> {
    let map = readme
        .split("### Code map")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("README has a Code map section");
    map.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| cell.split(", "))
        .map(|p| p.trim().trim_matches('`').to_owned())
        .collect()
}

/// The folders at the top of the tree as git tracks it: what the README's
/// run command writes (`public/`, `.data/`) and the build's `target/` are
/// ignored, so not in it; dotfolders are tooling.
fn tracked_top_level_folders(root: &std::path::Path) -> BTreeSet<String> {
    let listed = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .expect("git lists the tree (the tests run in a clone)");
    assert!(listed.status.success(), "git ls-files failed");
    listed
        .stdout
        .split(|b| *b == 0)
        .filter_map(|path| {
            let path = std::str::from_utf8(path).ok()?;
            let (folder, _) = path.split_once('/')?;
            (!folder.starts_with('.')).then(|| folder.to_owned())
        })
        .collect()
}

#[test]
fn the_code_map_names_every_top_level_folder_and_crate_and_each_path_it_names_is_there() {
    let root = mutualaid_tests::workspace();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mapped = mapped_paths(&readme);
    for path in &mapped {
        assert!(
            root.join(path).exists(),
            "the README's code map names `{path}`, which is not in the tree"
        );
    }
    let mapped_dirs: BTreeSet<&str> = mapped.iter().map(|p| p.trim_end_matches('/')).collect();
    for name in tracked_top_level_folders(&root) {
        assert!(
            mapped_dirs.contains(name.as_str()),
            "`{name}/` is in the tree but not in the README's code map"
        );
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let members = manifest
        .lines()
        .find(|l| l.starts_with("members = ["))
        .expect("the workspace's members");
    for member in members.split('"').skip(1).step_by(2) {
        let dir = if member == "." { "src" } else { member };
        assert!(
            mapped_dirs.contains(dir),
            "the crate in `{member}` has no row in the README's code map"
        );
    }
}
