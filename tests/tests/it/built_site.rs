//! The real content, built: every page in both languages, linked to its
//! twin, the organization's headings and calls to action kept, nothing
//! fetched from another host, and the same bytes every time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{html, real_site, sel, text_of};

fn attr(doc: &scraper::Html, selector: &str, name: &str) -> Option<String> {
    doc.select(&sel(selector))
        .next()
        .and_then(|e| e.value().attr(name))
        .map(str::to_owned)
}

#[test]
fn every_page_exists_in_english_and_spanish_and_links_to_its_twin() {
    let built = real_site();
    let site = &built.site;
    let keys: Vec<&str> = site
        .pages
        .iter()
        .filter(|p| p.lang == "en")
        .map(|p| p.key.as_str())
        .collect();
    assert!(
        keys.len() >= 9,
        "explainer, program, resources, two forms, two thank-yous, privacy, 404: {keys:?}"
    );
    for key in keys {
        let en = site.page(key, "en").expect("English page");
        let es = site
            .page(key, "es")
            .unwrap_or_else(|| panic!("{key} has no Spanish twin"));
        assert!(es.url.starts_with("/es/"), "{}", es.url);
        for (page, twin) in [(en, es), (es, en)] {
            let text = std::fs::read_to_string(built.out().join(&page.output)).expect("built");
            let doc = html(&text);
            assert_eq!(
                attr(&doc, "html", "lang").as_deref(),
                Some(page.lang.as_str()),
                "{}",
                page.url
            );
            let switch = format!(r#"a[hreflang="{}"][lang="{}"]"#, twin.lang, twin.lang);
            assert_eq!(
                attr(&doc, &switch, "href").as_deref(),
                Some(twin.url.as_str()),
                "language switch on {}",
                page.url
            );
            if key != "404.md" {
                let alternate = format!(r#"link[rel="alternate"][hreflang="{}"]"#, twin.lang);
                assert_eq!(
                    attr(&doc, &alternate, "href"),
                    Some(format!("{}{}", site.config.base_url, twin.url)),
                    "hreflang alternate on {}",
                    page.url
                );
                assert_eq!(
                    attr(&doc, "link[rel=canonical]", "href"),
                    Some(format!("{}{}", site.config.base_url, page.url))
                );
            }
        }
    }
}

/// The sentences (at least one) and the lowercase words of a text.
fn sentences_and_words(text: &str) -> (f64, Vec<String>) {
    let sentences = text
        .split(['.', '!', '?'])
        .filter(|s| s.trim().chars().any(char::is_alphabetic))
        .count()
        .max(1) as f64;
    let words = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphabetic()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    (sentences, words)
}

/// How many runs of `vowels` a lowercase word has: its syllables, roughly.
fn vowel_groups(word: &str, vowels: &str) -> usize {
    let mut groups = 0;
    let mut in_vowel = false;
    for c in word.chars() {
        let vowel = vowels.contains(c);
        if vowel && !in_vowel {
            groups += 1;
        }
        in_vowel = vowel;
    }
    groups
}

/// The Flesch-Kincaid grade of English text: 0.39 × words per sentence +
/// 11.8 × syllables per word − 15.59 (syllables: groups of vowels, less a
/// final silent e).
fn flesch_kincaid_grade(text: &str) -> f64 {
    let (sentences, words) = sentences_and_words(text);
    let syllables: usize = words
        .iter()
        .map(|w| {
            let groups = vowel_groups(w, "aeiouy");
            // A final silent e ("live", "some") is no syllable.
            let silent_e = w.ends_with('e') && !w.ends_with("le") && groups > 1;
            (groups - usize::from(silent_e)).max(1)
        })
        .sum();
    let n = words.len().max(1) as f64;
    0.39 * (n / sentences) + 11.8 * (syllables as f64 / n) - 15.59
}

/// The Fernández-Huerta reading ease of Spanish text: 206.84 − 0.60 ×
/// syllables per 100 words − 1.02 × words per sentence (syllables: groups
/// of vowels, accented ones included). 70–80: fairly easy; 60–70: standard.
fn fernandez_huerta(text: &str) -> f64 {
    let (sentences, words) = sentences_and_words(text);
    let syllables: usize = words
        .iter()
        .map(|w| vowel_groups(w, "aeiouáéíóúü").max(1))
        .sum();
    let n = words.len().max(1) as f64;
    206.84 - 0.60 * (syllables as f64 * 100.0 / n) - 1.02 * (n / sentences)
}

#[test]
fn the_organizations_headings_and_calls_to_action_are_kept() {
    let built = real_site();
    let read = |rel: &str| std::fs::read_to_string(built.out().join(rel)).expect(rel);
    let home = html(&read("index.html"));
    let h1 = text_of(home.root_element(), "h1");
    assert_eq!(h1, "Mutual Aid in San Diego: Why Here, Why Now?");
    assert!(
        home.select(&sel("h2"))
            .any(|h| h.text().collect::<String>() == "What is Mutual Aid?")
    );
    // The ways in come first: a page per way of taking part, then giving.
    let ways: Vec<(String, String)> = home
        .select(&sel(".ways a"))
        .map(|a| {
            (
                a.value().attr("href").unwrap_or("").to_owned(),
                a.text().collect::<String>(),
            )
        })
        .collect();
    assert_eq!(
        ways,
        [
            (
                "/signup/delivery/".to_owned(),
                "Get groceries delivered".to_owned()
            ),
            (
                "/signup/money/".to_owned(),
                "Get money for groceries".to_owned()
            ),
            (
                "/signup/shopper/".to_owned(),
                "Shop for a neighbor".to_owned()
            ),
            ("/donate/".to_owned(), "Donate".to_owned()),
        ]
    );
    let first_way = read("index.html").find(r#"class="ways""#).expect("ways");
    let essay = read("index.html")
        .find("What is Mutual Aid?")
        .expect("essay");
    assert!(first_way < essay, "the ways in before the essay");
    // Each way's page shows the form with its role already chosen.
    for (file, role) in [
        ("signup/delivery/index.html", "delivery"),
        ("es/signup/money/index.html", "money"),
        ("signup/shopper/index.html", "shopper"),
    ] {
        let page = html(&read(file));
        let checked: Vec<&str> = page
            .select(&sel("input[name=roles][checked]"))
            .filter_map(|i| i.value().attr("value"))
            .collect();
        assert_eq!(checked, [role], "{file}");
    }
    // Above the essay, a summary in plain words: Flesch-Kincaid grade 8 or lower.
    let paragraph_after = |page: &str, heading: &str| -> String {
        let text = read(page);
        let start = text.find(&format!("{heading}</h2>")).expect(heading);
        html(&text[start..])
            .root_element()
            .select(&sel("p"))
            .next()
            .expect("its paragraph")
            .text()
            .collect()
    };
    let text = paragraph_after("index.html", "In short");
    let grade = flesch_kincaid_grade(&text);
    assert!(grade <= 8.0, "grade {grade:.1}: {text}");
    // And in Spanish: Fernández-Huerta 70 or more ("bastante fácil", about
    // grade 6; 60–70 is grade 7–8).
    let texto = paragraph_after("es/index.html", "En pocas palabras");
    let ease = fernandez_huerta(&texto);
    assert!(ease >= 70.0, "Fernández-Huerta {ease:.0}: {texto}");

    let program = read("program/index.html");
    assert!(program.contains("DSA San Diego’s Mutual Aid Efforts in Response to COVID19"));

    let config = &built.site.config;
    let resources = html(&read("resources/index.html"));
    let h1 = text_of(resources.root_element(), "h1");
    assert_eq!(h1, "Resources – Where to Act Now");
    let hrefs: Vec<&str> = resources
        .select(&sel("main a"))
        .filter_map(|a| a.value().attr("href"))
        .collect();
    for wanted in [
        "/signup/".to_owned(),
        "/donate/".to_owned(),
        config.discord_url.clone(),
        config.donate_url.clone(),
        format!("mailto:{}", config.contact_email),
    ] {
        assert!(
            hrefs.contains(&wanted.as_str()),
            "resources links to {wanted}: {hrefs:?}"
        );
    }
    let es = html(&read("es/resources/index.html"));
    let es_hrefs: Vec<&str> = es
        .select(&sel("main a"))
        .filter_map(|a| a.value().attr("href"))
        .collect();
    assert!(
        es_hrefs.contains(&"/es/signup/"),
        "Spanish links stay Spanish: {es_hrefs:?}"
    );
    assert!(es_hrefs.contains(&config.discord_url.as_str()));
}

#[test]
fn no_page_runs_a_script_or_loads_anything_from_another_host() {
    for (path, text) in real_site().pages() {
        let doc = html(&text);
        assert!(
            doc.select(&sel("script")).next().is_none(),
            "{} has a script",
            path.display()
        );
        for element in doc.select(&sel("[src], link[href]")) {
            let v = element.value();
            let url = v.attr("src").or(v.attr("href")).unwrap_or_default();
            let rel = v.attr("rel").unwrap_or_default();
            if v.name() == "link" && matches!(rel, "canonical" | "alternate") {
                continue; // not fetched by the browser
            }
            assert!(
                url.starts_with("data:") || (url.starts_with('/') && !url.starts_with("//")),
                "{} fetches {url} ({})",
                path.display(),
                v.name()
            );
        }
        assert!(
            !text.contains("{{"),
            "{} has an unfilled setting",
            path.display()
        );
    }
}

#[test]
fn the_not_found_page_sitemap_and_robots_are_written() {
    let built = real_site();
    let out = built.out();
    // Pages nobody should land on from a search: not found, and thank-you pages.
    let hidden = [
        "404.html",
        "es/404.html",
        "signup/thanks/index.html",
        "es/signup/thanks/index.html",
        "donate/thanks/index.html",
        "es/donate/thanks/index.html",
    ];
    for file in hidden {
        let text = std::fs::read_to_string(out.join(file)).expect(file);
        assert!(
            text.contains(r#"<meta name="robots" content="noindex">"#),
            "{file}"
        );
    }
    let home = std::fs::read_to_string(out.join("index.html")).expect("home");
    assert!(!home.contains("noindex"));
    let sitemap = std::fs::read_to_string(out.join("sitemap.xml")).expect("sitemap");
    let base = &built.site.config.base_url;
    for page in &built.site.pages {
        let listed = sitemap.contains(&format!("<loc>{base}{}</loc>", page.url));
        let is_hidden = hidden
            .iter()
            .any(|h| page.output == std::path::Path::new(h));
        assert_eq!(listed, !is_hidden, "{} in the sitemap: {listed}", page.url);
    }
    assert!(!sitemap.contains("404") && !sitemap.contains("thanks"));
    assert!(sitemap.contains(&format!(r#"hreflang="es" href="{base}/es/signup/""#)));
    let robots = std::fs::read_to_string(out.join("robots.txt")).expect("robots");
    assert!(robots.contains(&format!("Sitemap: {base}/sitemap.xml")));
}

fn all_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("listing") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.strip_prefix(root).expect("inside").to_owned(),
                    std::fs::read(&path).expect("reading"),
                );
            }
        }
    }
    files
}

#[test]
fn two_builds_of_the_same_content_are_byte_identical() {
    let content = mutualaid_tests::real_content();
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    mutualaid_site::Site::load(&content)
        .expect("load")
        .build(a.path())
        .expect("build a");
    mutualaid_site::Site::load(&content)
        .expect("load")
        .build(b.path())
        .expect("build b");
    let (fa, fb) = (all_files(a.path()), all_files(b.path()));
    assert!(fa.len() >= 20, "{} files", fa.len());
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (path, bytes) in &fa {
        assert!(
            bytes == &fb[path],
            "{} differs between builds",
            path.display()
        );
    }
}

#[test]
fn a_build_replaces_an_earlier_build_but_refuses_a_foreign_folder() {
    let site = &real_site().site;
    let out = tempfile::tempdir().expect("tmp");
    site.build(out.path()).expect("first build");
    std::fs::write(out.path().join("stale.html"), "old").expect("write");
    site.build(out.path()).expect("second build");
    assert!(
        !out.path().join("stale.html").exists(),
        "an earlier build's leftovers are removed"
    );

    let foreign = tempfile::tempdir().expect("tmp");
    std::fs::write(foreign.path().join("thesis.docx"), "years of work").expect("write");
    let err = site
        .build(foreign.path())
        .expect_err("must not empty a folder that is not a build");
    assert!(err.to_string().contains("refusing"), "{err}");
    assert!(foreign.path().join("thesis.docx").exists());
}

#[test]
fn the_fixture_site_builds_with_settings_links_and_tables_resolved() {
    let site_dir = mutualaid_tests::fixture_site();
    let out = site_dir.path().join("public");
    let site = mutualaid_site::Site::load(site_dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let report = site.build(&out).expect("build");
    assert_eq!(report.pages, 12);
    let about = std::fs::read_to_string(out.join("about/index.html")).expect("about");
    assert!(
        about.contains("We are Fixture Network."),
        "settings are filled in"
    );
    assert!(about.contains(r#"<a href="mailto:hello@fixture.example">hello@fixture.example</a>"#));
    assert!(about.contains("<table>"), "tables render");
    let home_es = html(&std::fs::read_to_string(out.join("es/index.html")).expect("es home"));
    let links: Vec<&str> = home_es
        .select(&sel("main a"))
        .filter_map(|a| a.value().attr("href"))
        .collect();
    assert!(
        links.contains(&"/es/about/") && links.contains(&"/es/join/#f-zip"),
        "{links:?}"
    );
    let nav: Vec<String> = home_es
        .select(&sel("header nav ul a"))
        .map(|a| a.text().collect())
        .collect();
    assert_eq!(
        nav,
        ["Inicio", "Sobre nosotros", "Únase"],
        "navigation in nav order, in Spanish"
    );
    assert!(
        home_es
            .select(&sel(r#"header nav ul a[aria-current="page"]"#))
            .count()
            == 1
    );
    assert!(out.join("404.html").is_file() && out.join("es/404.html").is_file());
}

/// Every file below `dir`, by its path relative to `root`, as text.
fn files_below(
    root: &std::path::Path,
    dir: &std::path::Path,
    out: &mut std::collections::BTreeMap<std::path::PathBuf, String>,
) {
    for entry in std::fs::read_dir(dir).expect("content") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_below(root, &path, out);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.insert(path.strip_prefix(root).expect("below").to_owned(), text);
        }
    }
}

#[test]
fn the_content_loaded_from_memory_as_the_lambdas_do_renders_what_the_folder_does() {
    let root = mutualaid_tests::real_content();
    let mut files = std::collections::BTreeMap::new();
    files_below(&root, &root, &mut files);
    let from_memory = mutualaid_site::Site::from_files(&files).expect("loads from memory");
    let from_folder = mutualaid_site::Site::load(&root).expect("loads from the folder");
    let (a, b) = (
        from_memory.render().expect("renders"),
        from_folder.render().expect("renders"),
    );
    assert!(a.len() > 20);
    assert!(a == b, "the same files, byte for byte");
    // A missing file is named as it would be in the folder.
    files.remove(std::path::Path::new("i18n/es.toml"));
    let Err(e) = mutualaid_site::Site::from_files(&files) else {
        panic!("loads without the Spanish texts");
    };
    assert!(e.to_string().contains("i18n/es.toml"), "{e}");
}
