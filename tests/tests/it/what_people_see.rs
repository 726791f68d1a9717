//! What a person sees (issue 14) where it is not the browser tests' job:
//! a form's action opened by hand, the words around the form, the digest's
//! pairing lines, the settings a real deployment must change.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::handler::{harness, send};

#[tokio::test]
async fn opening_a_forms_action_leads_to_the_form_in_the_readers_language() {
    let h = harness(100);
    for (path, headers, wanted) in [
        ("/api/signup", vec![], "/signup/"),
        (
            "/api/signup",
            vec![(header::REFERER, "https://mutualaid.example.org/es/signup/")],
            "/es/signup/",
        ),
        (
            "/api/signup",
            vec![(header::ACCEPT_LANGUAGE, "es-MX,es;q=0.9,en;q=0.5")],
            "/es/signup/",
        ),
        (
            "/api/signup",
            vec![
                (header::REFERER, "https://mutualaid.example.org/signup/"),
                (header::ACCEPT_LANGUAGE, "es-MX"),
            ],
            "/signup/",
        ),
        ("/api/donate", vec![], "/donate/"),
        (
            "/api/donate",
            vec![(header::ACCEPT_LANGUAGE, "es")],
            "/es/donate/",
        ),
    ] {
        let mut request = Request::get(path);
        for (name, value) in &headers {
            request = request.header(name, *value);
        }
        let answer = send(&h.router, request.body(Body::empty()).expect("request")).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path} {headers:?}");
        assert_eq!(
            answer.headers[header::LOCATION].to_str().expect("ascii"),
            wanted,
            "{path} {headers:?}"
        );
    }
}

#[test]
fn email_or_phone_at_least_one_is_said_before_those_fields_and_tied_to_them() {
    let built = crate::real_site();
    for (file, words) in [
        (
            "signup/index.html",
            "an email address or a phone number — at least one",
        ),
        (
            "es/signup/index.html",
            "un correo electrónico o un número de teléfono: al menos uno",
        ),
    ] {
        let page = std::fs::read_to_string(built.out().join(file)).expect(file);
        let note_at = page.find(r#"id="contact-note""#).expect("the note");
        let email_at = page.find(r#"id="f-email""#).expect("the email field");
        assert!(note_at < email_at, "{file}: said before the fields");
        assert!(page[note_at..].contains(words), "{file}");
        let doc = crate::html(&page);
        for id in ["f-email", "f-phone"] {
            let input = doc.select(&crate::sel(&format!("#{id}"))).next().expect(id);
            let described = input.value().attr("aria-describedby").unwrap_or("");
            assert!(
                described.split(' ').any(|d| d == "contact-note"),
                "{file} {id}: {described}"
            );
        }
    }
}

#[test]
fn check_production_refuses_the_shipped_placeholders_and_passes_real_settings() {
    let run = |content: &std::path::Path, command: &str, extra: &[&str]| {
        let out = std::process::Command::new(mutualaid_tests::mutualaid_bin())
            .arg(command)
            .arg("--production")
            .arg("--content")
            .arg(content)
            .args(extra)
            .output()
            .expect("mutualaid");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let shipped = mutualaid_tests::real_content();
    let config = std::fs::read_to_string(shipped.join("config.toml")).expect("config");
    let line_of = |key: &str| {
        config
            .lines()
            .position(|l| l.starts_with(&format!("{key} =")))
            .expect(key)
            + 1
    };
    let (ok, said) = run(&shipped, "check", &[]);
    assert!(!ok, "{said}");
    for key in ["base_url", "contact_email", "discord_url", "donate_url"] {
        assert!(
            said.contains(&format!("config.toml:{}: `{key}`", line_of(key))),
            "{key}: {said}"
        );
    }
    assert!(
        said.contains("hint: set `contact_email` to the network's real one"),
        "{said}"
    );
    // The same content with real settings passes, and builds.
    let site = mutualaid_tests::fixture_site();
    let real = "base_url = \"https://ayudamutua-sd.org\"\nlanguages = [\"en\", \"es\"]\norganization = \"Fixture Network\"\ncontact_email = \"hola@ayudamutua-sd.org\"\ndiscord_url = \"https://discord.gg/ayudamutua-sd\"\ndonate_url = \"https://give.ayudamutua-sd.org/\"\napi_base = \"/api\"\nretention_days = 90\n";
    std::fs::write(site.path().join("config.toml"), real).expect("config");
    let (ok, said) = run(site.path(), "check", &[]);
    assert!(ok, "{said}");
    let out = site.path().join("public");
    let (ok, said) = run(
        site.path(),
        "build",
        &["--out", out.to_str().expect("utf-8")],
    );
    assert!(ok && out.join("index.html").is_file(), "{said}");
}

#[tokio::test]
async fn a_pairing_line_says_how_to_reach_both_people_and_their_languages() {
    use mutualaid_forms::validate::ContactMethod;
    use mutualaid_handler::store::Submission;

    use crate::digest::NOON;
    use crate::store_contract::{KEEP, person};

    let (dir, store) = mutualaid_tests::stores::sqlite();
    let mut rita = person(
        "Rita Lopez",
        Some("rita@example.org"),
        None,
        "92004",
        &["delivery"],
    );
    rita.languages = vec!["es".into()];
    let mut vic = person(
        "Vic Helper",
        None,
        Some("+16195550111"),
        "92004",
        &["shopper"],
    );
    vic.contact_method = ContactMethod::Text;
    vic.languages = vec!["en".into(), "es".into()];
    for (s, at) in [(rita, NOON - 600), (vic, NOON - 500)] {
        mutualaid_handler::domain::accept(&store, Submission::Signup(s), at, KEEP)
            .await
            .expect("accepted");
    }
    let raw = crate::digest::to_outbox(&store, &dir.path().join("outbox"), NOON).await;
    let message = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("MIME");
    let text = message.body_text(0).expect("text").replace("\r\n", "\n");
    let suggested = crate::cases::section(&text, "Suggested today");
    assert!(
        suggested.contains("Rita Lopez: rita@example.org (prefers email) — languages: es"),
        "{suggested}"
    );
    assert!(
        suggested.contains(
            "Vic Helper: +16195550111, no email: call or text (prefers text) — languages: en, es"
        ),
        "{suggested}"
    );
    let html = message.body_html(0).expect("html");
    assert!(
        html.contains("Vic Helper: +16195550111, no email: call or text (prefers text)"),
        "{html}"
    );
}

#[test]
fn the_thank_you_page_says_what_happens_next_and_where_to_turn_today() {
    let built = crate::real_site();
    let config = &built.site.config;
    let food = config
        .food_bank_url
        .clone()
        .expect("a food bank in the settings");
    for (file, when) in [
        (
            "signup/thanks/index.html",
            format!("within {} days", config.contact_within_days),
        ),
        (
            "es/signup/thanks/index.html",
            format!("en un plazo de {} días", config.contact_within_days),
        ),
    ] {
        let page = std::fs::read_to_string(built.out().join(file)).expect(file);
        assert!(page.contains(&when), "{file}: {when}");
        assert!(
            page.contains(&format!("<strong>{}</strong>", config.urgent_phone)),
            "{file}: the help line"
        );
        assert!(
            page.contains(&format!("href=\"{food}\"")),
            "{file}: the food bank"
        );
    }
}

#[test]
fn the_privacy_page_says_a_pairing_shares_contact_details_and_how_deletion_works() {
    let built = crate::real_site();
    for (file, words) in [
        (
            "privacy/index.html",
            [
                "each of the two gets the other’s first name, phone number or email address",
                "only your information is deleted",
            ],
        ),
        (
            "es/privacy/index.html",
            [
                "cada una recibe el nombre, el teléfono o el correo electrónico",
                "solo se borra su información",
            ],
        ),
    ] {
        let page = std::fs::read_to_string(built.out().join(file)).expect(file);
        for w in words {
            assert!(page.contains(w), "{file}: {w}");
        }
        assert!(!page.contains("Only the network’s organizers"), "{file}");
    }
}

#[test]
fn the_network_has_one_name_per_language_from_the_settings() {
    let built = crate::real_site();
    let config = &built.site.config;
    for (file, lang) in [
        ("index.html", "en"),
        ("es/index.html", "es"),
        ("es/signup/index.html", "es"),
    ] {
        let page = std::fs::read_to_string(built.out().join(file)).expect(file);
        let doc = crate::html(&page);
        let text_of = |selector: &str| -> String {
            doc.select(&crate::sel(selector))
                .next()
                .map(|e| e.text().collect())
                .unwrap_or_default()
        };
        assert_eq!(text_of(".brand"), config.short_name_in(lang), "{file}");
        assert!(
            text_of("title").ends_with(&format!("– {}", config.short_name_in(lang))),
            "{file}"
        );
        assert!(
            text_of("footer").contains(config.organization_in(lang)),
            "{file}"
        );
    }
    let spanish = std::fs::read_to_string(built.out().join("es/index.html")).expect("es");
    assert!(
        !spanish.contains(config.organization_in("en")),
        "no English name on a Spanish page"
    );
    // A name given per language must be given in every language.
    let site = mutualaid_tests::fixture_site();
    let path = site.path().join("config.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let text = text.replace(
        "organization = \"Fixture Network\"",
        "organization = { en = \"Fixture Network\" }",
    );
    std::fs::write(&path, &text).expect("config");
    let out = std::process::Command::new(mutualaid_tests::mutualaid_bin())
        .args(["check", "--content"])
        .arg(site.path())
        .output()
        .expect("check");
    let said = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .position(|l| l.starts_with("organization"))
        .expect("the line")
        + 1;
    assert!(!out.status.success());
    assert!(
        said.contains(&format!(
            "config.toml:{line}: `organization` has no name in es"
        )),
        "{said}"
    );
}

#[tokio::test]
async fn the_language_switch_on_an_error_page_keeps_what_was_typed_and_stores_nothing() {
    use mutualaid_handler::store::roles::*;
    let h = harness(100);
    let body = "name=Lena+Ortiz&email=lena%40example.org&contact_method=email&zip=1&roles=delivery&notes=Ground+floor&lang=es&switch_language=1";
    let request = Request::post("/api/signup")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let answer = send(&h.router, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains(r#"<html lang="es" dir="ltr">"#));
    assert!(
        answer.body.contains(r#"value="Lena Ortiz""#),
        "what was typed"
    );
    assert!(
        answer.body.contains("Hay un problema"),
        "its problems, in Spanish"
    );
    // Its own switch leads back, carrying the same input.
    assert!(
        answer
            .body
            .contains(r#"<input type="hidden" name="notes" value="Ground floor">"#),
        "{}",
        answer.body
    );
    assert!(h.store.everyone().await.expect("read").people.is_empty());
}
