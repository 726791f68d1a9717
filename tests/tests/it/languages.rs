//! Languages are data: a third language — Arabic, written right to left —
//! is added to a site with nothing but a line of config and its content,
//! and the site, the forms and the handler speak it.

use std::path::Path;
use std::process::{Command, Stdio};

use mutualaid_tests::serve::serve_site;
use mutualaid_tests::{fixture_site, mutualaid_bin};

/// Adds Arabic to a copy of the fixture site: the language in config.toml,
/// its interface words (English ones, a few translated) and a twin of every
/// page. No code.
fn add_arabic(site: &Path) {
    let config = site.join("config.toml");
    let text = std::fs::read_to_string(&config).expect("config.toml");
    std::fs::write(
        &config,
        text.replace(
            "languages = [\"en\", \"es\"]",
            "languages = [\"en\", \"es\", \"ar\"]",
        ),
    )
    .expect("writing config.toml");
    let english = std::fs::read_to_string(site.join("i18n/en.toml")).expect("en.toml");
    let arabic = english
        .replacen(
            "language_name = \"English\"",
            "language_name = \"العربية\"\ndirection = \"rtl\"",
            1,
        )
        .replacen(
            "error_summary_title = \"There is a problem\"",
            "error_summary_title = \"هناك مشكلة\"",
            1,
        )
        .replacen(
            "submit = \"Send my sign-up\"",
            "submit = \"أرسل تسجيلي\"",
            1,
        );
    std::fs::write(site.join("i18n/ar.toml"), arabic).expect("writing ar.toml");
    twin_pages(&site.join("pages"));
}

fn twin_pages(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("pages") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            twin_pages(&path);
            continue;
        }
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let Some(stem) = name.strip_suffix(".md") else {
            continue;
        };
        if stem.contains('.') {
            continue; // another language's twin
        }
        let text = std::fs::read_to_string(&path).expect("page");
        let arabic = text
            .lines()
            .map(|l| match l.strip_prefix("title = ") {
                Some(_) => "title = \"صفحة بالعربية\"".to_owned(),
                None => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(path.with_file_name(format!("{stem}.ar.md")), arabic).expect("twin");
    }
}

#[test]
fn a_third_language_written_right_to_left_is_config_plus_content() {
    let site = fixture_site();
    add_arabic(site.path());
    let check = Command::new(mutualaid_bin())
        .args(["check", "--content"])
        .arg(site.path())
        .output()
        .expect("mutualaid check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let out = site.path().join("public");
    let data = site.path().join("data");
    let server = serve_site(site.path(), site.path(), &[], Stdio::null());
    let home = std::fs::read_to_string(out.join("ar/index.html")).expect("the Arabic home page");
    assert!(home.contains(r#"<html lang="ar" dir="rtl">"#), "{home}");
    let english = std::fs::read_to_string(out.join("index.html")).expect("the English home");
    assert!(english.contains(r#"<html lang="en" dir="ltr">"#));
    assert!(
        english.contains("العربية"),
        "the language switch offers Arabic"
    );

    let post = |body: &str| {
        let (status, page, location) = mutualaid_tests::post(
            &format!("{}/api/signup", server.base),
            "application/x-www-form-urlencoded",
            body,
        );
        (status, location, page)
    };
    // A sign-up from the Arabic page: thanked on the Arabic page.
    let (status, location, _) = post(
        "name=Layla+Haddad&email=layla%40example.org&contact_method=email&zip=92105&roles=delivery&consent=on&lang=ar&website=",
    );
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/ar/signup/thanks/"))
    );
    // Something to fix: the Arabic form again, right to left, in its words.
    let (status, _, page) = post("name=Layla&zip=9&lang=ar");
    assert_eq!(status, 422);
    assert!(page.contains(r#"<html lang="ar" dir="rtl">"#), "{page}");
    assert!(
        page.contains("هناك مشكلة") && page.contains("أرسل تسجيلي"),
        "{page}"
    );
    // A language the site does not have: its default.
    let (status, _, page) = post("name=Layla&zip=9&lang=fr");
    assert_eq!(status, 422);
    assert!(page.contains(r#"<html lang="en" dir="ltr">"#), "{page}");
    drop(server);

    let export = Command::new(mutualaid_bin())
        .args(["export", "--format", "csv", "--data"])
        .arg(&data)
        .output()
        .expect("export");
    let csv = String::from_utf8_lossy(&export.stdout);
    assert!(
        csv.lines()
            .any(|l| l.contains("Layla Haddad") && l.ends_with("\"ar\"")),
        "the record keeps the language it came in: {csv}"
    );
}
