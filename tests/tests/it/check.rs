//! `mutualaid check` (the real binary): a clean fixture site passes; a broken
//! one gets every problem with its file, its line and a hint, and `build`
//! refuses it without writing anything.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use mutualaid_tests::{fixture_site, mutualaid_bin};

fn mutualaid(args: &[&str], content: &Path) -> Output {
    Command::new(mutualaid_bin())
        .args(args)
        .arg("--content")
        .arg(content)
        .output()
        .expect("running mutualaid")
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

/// Replaces `from` by `to` in a file, failing if `from` is not there.
fn edit(root: &Path, rel: &str, from: &str, to: &str) {
    let path = root.join(rel);
    let text = fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{rel} has no {from:?}");
    fs::write(path, text.replacen(from, to, 1)).expect("write");
}

/// The 1-based line of the first line of `file` that contains `needle`.
fn line_with(root: &Path, rel: &str, needle: &str) -> usize {
    fs::read_to_string(root.join(rel))
        .expect("read")
        .lines()
        .position(|l| l.contains(needle))
        .expect("present")
        + 1
}

#[test]
fn a_clean_site_passes() {
    let site = fixture_site();
    let out = mutualaid(&["check"], site.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("12 pages, no problems"), "{stdout}");
}

#[test]
fn the_old_spelling_organisation_is_still_read_and_check_says_to_change_it() {
    let site = fixture_site();
    edit(
        site.path(),
        "config.toml",
        "organization =",
        "organisation =",
    );
    edit(
        site.path(),
        "pages/about.md",
        "{{ config.organization }}",
        "{{ config.organisation }}",
    );
    let line = line_with(site.path(), "config.toml", "organisation =");
    let out = mutualaid(&["check"], site.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "note: config.toml:{line}: `organisation` is the old spelling of `organization` (still read)"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("write `organization = ...`"), "{stdout}");

    // The site builds as before: the name in every footer and in the page that names it.
    let out_dir = tempfile::tempdir().expect("tmp");
    let built = Command::new(mutualaid_bin())
        .args(["build", "--content"])
        .arg(site.path())
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .expect("build");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let about = fs::read_to_string(out_dir.path().join("about/index.html")).expect("about page");
    assert!(about.contains("We are Fixture Network."), "{about}");
    assert!(about.contains("<p>Fixture Network</p>"), "{about}");

    // Without the old key, no note.
    let clean = fixture_site();
    let out = mutualaid(&["check"], clean.path());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("note:"));
}

#[test]
fn the_real_content_passes() {
    let out = mutualaid(&["check"], &mutualaid_tests::real_content());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_broken_site_gets_every_problem_with_file_line_and_hint() {
    let site = fixture_site();
    let root = site.path();
    let plain = "+++\ntitle = \"x\"\n+++\n";
    for (file, text) in [
        // Bad front matter: no opening +++, an unknown key, a TOML syntax error.
        ("pages/no-front.md", "title = \"x\"\n\ntext\n"),
        ("pages/no-front.es.md", plain),
        (
            "pages/colour.md",
            "+++\ntitle = \"x\"\ncolour = \"red\"\n+++\n",
        ),
        ("pages/colour.es.md", plain),
        ("pages/syntax.md", "+++\ntitle = \"x\"\nnav = \n+++\n"),
        ("pages/syntax.es.md", plain),
        // A page in one language only, each way round.
        ("pages/english-only.md", plain),
        ("pages/solo.es.md", plain),
    ] {
        write(root, file, text);
    }
    // Broken internal links.
    edit(
        root,
        "pages/about.md",
        "| a | b |",
        "See [the plan](@/plan.md).\n\n| a | b |",
    );
    edit(
        root,
        "pages/about.es.md",
        "Somos",
        "Vea [la lista](/es/lista/).\n\nSomos",
    );
    // A form label and an error message missing in Spanish.
    let zip_label = line_with(root, "i18n/es.toml", "[forms.signup.fields.zip]");
    let zip_errors = line_with(root, "i18n/es.toml", "[forms.signup.fields.zip.errors]");
    edit(root, "i18n/es.toml", "label = \"Código postal (ZIP)\"", "");
    let county = fs::read_to_string(root.join("i18n/es.toml")).expect("read");
    let county_line = county
        .lines()
        .skip(zip_errors)
        .find(|l| l.starts_with("not_in_county"))
        .expect("message")
        .to_owned();
    edit(root, "i18n/es.toml", &county_line, "");

    let out = mutualaid(&["check"], root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check must fail");
    let about_link = line_with(root, "pages/about.md", "@/plan.md");
    let about_es_link = line_with(root, "pages/about.es.md", "/es/lista/");
    for (at, what) in [
        ("pages/no-front.md:1:".to_owned(), "no front matter"),
        ("pages/colour.md:3:".to_owned(), "unknown field `colour`"),
        ("pages/syntax.md:3:".to_owned(), "front matter"),
        ("pages/english-only.md:1:".to_owned(), "has no `es` twin"),
        ("pages/solo.es.md:1:".to_owned(), "has no `en` twin"),
        (
            format!("pages/about.md:{about_link}:"),
            "link to `@/plan.md`",
        ),
        (
            format!("pages/about.es.md:{about_es_link}:"),
            "link to `/es/lista/`",
        ),
        (
            format!("i18n/es.toml:{zip_label}:"),
            "missing `label` under [forms.signup.fields.zip]",
        ),
        (
            format!("i18n/es.toml:{zip_errors}:"),
            "missing `not_in_county` under [forms.signup.fields.zip.errors]",
        ),
    ] {
        let line = stderr
            .lines()
            .position(|l| l.starts_with(&at) && l.contains(what))
            .unwrap_or_else(|| panic!("expected `{at} … {what}` in:\n{stderr}"));
        let hint = stderr.lines().nth(line + 1).unwrap_or_default();
        assert!(
            hint.trim_start().starts_with("hint: ") && hint.len() > 12,
            "{at} has a hint: {hint:?}"
        );
    }

    let public = root.join("public");
    let build = Command::new(mutualaid_bin())
        .args(["build", "--content"])
        .arg(root)
        .arg("--out")
        .arg(&public)
        .output()
        .expect("running build");
    assert!(!build.status.success());
    assert_eq!(
        String::from_utf8_lossy(&build.stderr),
        stderr,
        "build reports the same problems"
    );
    assert!(!public.exists(), "nothing is written");
}

#[test]
fn an_unknown_setting_is_named_with_its_line() {
    let site = fixture_site();
    let root = site.path();
    let config = fs::read_to_string(root.join("config.toml")).expect("read");
    let line = config.lines().count() + 1;
    fs::write(
        root.join("config.toml"),
        format!("{config}discord_link = \"https://x\"\n"),
    )
    .expect("write");
    let out = mutualaid(&["check"], root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("config.toml:{line}: unknown field `discord_link`")),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: remove or correct the key"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_setting_in_a_page_is_named_with_its_line() {
    let site = fixture_site();
    let root = site.path();
    edit(
        root,
        "pages/about.md",
        "We are",
        "Call {{ config.phone }}.\n\nWe are",
    );
    let out = mutualaid(&["check"], root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = line_with(root, "pages/about.md", "config.phone");
    assert!(
        stderr.contains(&format!(
            "pages/about.md:{line}: `{{{{ config.phone }}}}` is not a setting"
        )),
        "{stderr}"
    );
}

/// A language that lacks a message's words (a receipt's line, the month
/// names) fails `check`, naming the file.
#[test]
fn a_language_without_a_messages_words_fails_the_check() {
    let site = fixture_site();
    let root = site.path();
    edit(
        root,
        "i18n/es.toml",
        "not_you = \"¿No fue usted?",
        "# not_you = \"¿No fue usted?",
    );
    let out = mutualaid(&["check"], root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check must fail");
    assert!(stderr.contains("es.toml"), "{stderr}");
    assert!(stderr.contains("not_you"), "{stderr}");

    let site = fixture_site();
    let root = site.path();
    edit(root, "i18n/en.toml", "\"November\", ", "");
    let out = mutualaid(&["check"], root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check must fail");
    let line = line_with(root, "i18n/en.toml", "[messages]");
    assert!(
        stderr.contains(&format!(
            "en.toml:{line}: `months` under [messages] has 11 names, not 12"
        )),
        "{stderr}"
    );
}
