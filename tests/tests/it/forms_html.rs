//! The built forms are the contract: every field with its name, type,
//! `required`, `maxlength`, `pattern`, `autocomplete` and choices; a label
//! for every input; choices in a fieldset with a legend; words from content.

use std::collections::HashSet;

use mutualaid_forms::{FieldError, FieldErrors, FormId, FormInput, Kind};
use mutualaid_site::{FormState, FormValues};

use crate::{html, real_site, sel, text_of};

fn check_form(lang: &str, form: FormId) {
    let built = real_site();
    let site = &built.site;
    let page = site
        .form_page(form, lang)
        .unwrap_or_else(|| panic!("no {lang} page shows the {} form", form.key()));
    let text = std::fs::read_to_string(built.out().join(&page.output)).expect("built page");
    let doc = html(&text);
    let forms: Vec<_> = doc.select(&sel("form")).collect();
    assert_eq!(forms.len(), 1, "{}", page.url);
    let f = forms[0];
    let at = format!("{} ({})", page.url, form.key());
    assert_eq!(f.value().attr("method"), Some("post"), "{at}");
    assert_eq!(
        f.value().attr("action"),
        Some(format!("{}/{}", site.config.api_base, form.key()).as_str()),
        "{at}"
    );
    let texts = site.strings[lang].form(form);

    for field in form.fields() {
        let name = field.name;
        let inputs: Vec<_> = f.select(&sel(&format!(r#"[name="{name}"]"#))).collect();
        assert!(!inputs.is_empty(), "{at}: no input named {name}");
        let label_text = texts.fields.get(name).and_then(|t| t.label.clone());
        match field.kind {
            Kind::Hidden => {
                assert_eq!(inputs[0].value().attr("type"), Some("hidden"));
                assert_eq!(inputs[0].value().attr("value"), Some(lang), "{at}: lang");
            }
            Kind::Radio | Kind::Checkboxes => {
                let values: Vec<&str> = inputs
                    .iter()
                    .filter_map(|i| i.value().attr("value"))
                    .collect();
                assert_eq!(values, field.options, "{at}: choices of {name}");
                for input in &inputs {
                    assert_eq!(
                        input.value().attr("type"),
                        field.kind.input_type(),
                        "{at}: {name}"
                    );
                    let required = input.value().attr("required").is_some();
                    assert_eq!(
                        required,
                        field.required && field.kind == Kind::Radio,
                        "{at}: required on {name}"
                    );
                }
                let fieldset_of = |input: &scraper::ElementRef| {
                    input
                        .ancestors()
                        .filter_map(scraper::ElementRef::wrap)
                        .find(|a| a.value().name() == "fieldset")
                        .map(|a| a.id())
                };
                let fieldsets: HashSet<_> = inputs.iter().map(fieldset_of).collect();
                assert_eq!(
                    fieldsets.len(),
                    1,
                    "{at}: the choices of {name} share one fieldset"
                );
                let fieldset = fieldset_of(&inputs[0])
                    .and_then(|id| doc.tree.get(id))
                    .and_then(scraper::ElementRef::wrap)
                    .unwrap_or_else(|| panic!("{at}: the choices of {name} are in a fieldset"));
                let legend = text_of(fieldset, "legend");
                assert!(
                    legend.starts_with(label_text.as_deref().expect("a label in content")),
                    "{at}: legend of {name} is {legend:?}"
                );
                for option in field.options {
                    let label: String = f
                        .select(&sel(&format!(r#"label[for="f-{name}-{option}"]"#)))
                        .next()
                        .unwrap_or_else(|| panic!("{at}: no label for {name}={option}"))
                        .text()
                        .collect();
                    assert_eq!(
                        Some(&label),
                        texts.fields[name].options.get(*option),
                        "{at}: {name}={option}"
                    );
                }
            }
            _ => {
                assert_eq!(inputs.len(), 1, "{at}: {name}");
                let e = inputs[0].value();
                if field.kind == Kind::Textarea {
                    assert_eq!(e.name(), "textarea");
                } else {
                    assert_eq!(
                        e.attr("type"),
                        field.kind.input_type(),
                        "{at}: type of {name}"
                    );
                }
                assert_eq!(
                    e.attr("required").is_some(),
                    field.required,
                    "{at}: required on {name}"
                );
                assert_eq!(
                    e.attr("maxlength").map(str::to_owned),
                    field.max_len.map(|m| m.to_string()),
                    "{at}: maxlength of {name}"
                );
                assert_eq!(e.attr("pattern"), field.pattern, "{at}: pattern of {name}");
                assert_eq!(
                    e.attr("autocomplete"),
                    field.autocomplete,
                    "{at}: autocomplete of {name}"
                );
                assert_eq!(
                    e.attr("inputmode"),
                    field.inputmode,
                    "{at}: inputmode of {name}"
                );
                let id = e.attr("id").expect("an id");
                let label: String = f
                    .select(&sel(&format!(r#"label[for="{id}"]"#)))
                    .next()
                    .unwrap_or_else(|| panic!("{at}: no label for {name}"))
                    .text()
                    .collect();
                assert!(
                    label.starts_with(label_text.as_deref().expect("a label in content")),
                    "{at}: label of {name} is {label:?}"
                );
                if field.kind == Kind::Honeypot {
                    let hidden = inputs[0]
                        .ancestors()
                        .filter_map(scraper::ElementRef::wrap)
                        .any(|a| a.value().attr("class") == Some("hp"));
                    assert!(hidden, "{at}: the honeypot is hidden from people");
                    assert_eq!(e.attr("tabindex"), Some("-1"));
                }
            }
        }
    }

    let contract: HashSet<&str> = form.fields().iter().map(|f| f.name).collect();
    for input in f.select(&sel("input, textarea, select")) {
        let name = input.value().attr("name").expect("every input has a name");
        assert!(
            contract.contains(name),
            "{at}: {name} is not in the contract"
        );
    }
    let mut ids = HashSet::new();
    for element in doc.select(&sel("[id]")) {
        let id = element.value().attr("id").expect("id");
        assert!(ids.insert(id), "{at}: id {id} twice");
    }
}

#[test]
fn the_signup_form_in_english_and_spanish_has_every_contract_field() {
    check_form("en", FormId::Signup);
    check_form("es", FormId::Signup);
}

#[test]
fn the_donation_form_in_english_and_spanish_has_every_contract_field() {
    check_form("en", FormId::Donate);
    check_form("es", FormId::Donate);
}

#[test]
fn the_roles_are_three_checkboxes_in_a_fieldset_with_a_legend() {
    let built = real_site();
    let text = std::fs::read_to_string(built.out().join("signup/index.html")).expect("built");
    let doc = html(&text);
    let fieldset = doc
        .select(&sel("fieldset"))
        .find(|fs| fs.select(&sel(r#"input[name="roles"]"#)).count() == 3)
        .expect("a fieldset holding the three roles");
    let legend = text_of(fieldset, "legend");
    assert!(legend.starts_with("I want"), "{legend}");
    let labels: Vec<String> = fieldset
        .select(&sel("label"))
        .map(|l| l.text().collect())
        .collect();
    assert_eq!(
        labels,
        [
            "to be a volunteer shopper",
            "to get groceries delivered",
            "to receive monetary support"
        ]
    );
}

#[test]
fn a_refilled_form_keeps_what_was_typed_escaped_and_links_each_error() {
    let site = &real_site().site;
    let page = site
        .form_page(FormId::Signup, "es")
        .expect("Spanish sign-up page");
    let index = site
        .pages
        .iter()
        .position(|p| p.url == page.url)
        .expect("index");
    let values = FormValues::from_pairs([
        ("name", "<script>alert(1)</script>"),
        ("zip", "90012"),
        ("roles", "money"),
        ("notes", "Sin \"gluten\" & sin sal"),
    ]);
    let errors = FieldErrors(vec![
        FieldError {
            field: "email",
            codes: vec!["email_or_phone"],
        },
        FieldError {
            field: "zip",
            codes: vec!["not_in_county"],
        },
        FieldError {
            field: "contact_method",
            codes: vec!["required"],
        },
    ]);
    let state = FormState {
        values: Some(&values),
        errors: Some(&errors),
        notice: None,
    };
    let text = site.render_page(index, &state).expect("render");
    assert!(!text.contains("<script>alert"), "typed markup is escaped");
    let doc = html(&text);
    let title = text_of(doc.root_element(), "title");
    assert!(title.starts_with("Error: "), "{title}");
    let summary = doc
        .select(&sel(".error-summary"))
        .next()
        .expect("an error summary");
    assert_eq!(
        summary
            .select(&sel("h2"))
            .next()
            .expect("h2")
            .text()
            .collect::<String>(),
        "Hay un problema"
    );
    let links: Vec<&str> = summary
        .select(&sel("a"))
        .filter_map(|a| a.value().attr("href"))
        .collect();
    assert_eq!(
        links,
        ["#f-email", "#f-contact_method", "#f-zip"],
        "in field order"
    );
    for link in links {
        assert!(
            doc.select(&sel(link)).next().is_some(),
            "{link} points at a field"
        );
    }
    let es = &site.strings["es"].forms["signup"].fields["zip"].errors["not_in_county"];
    let zip_error = text_of(doc.root_element(), "#f-zip-error");
    assert!(zip_error.ends_with(es.as_str()), "{zip_error}");
    let zip = doc.select(&sel("#f-zip")).next().expect("zip").value();
    assert_eq!(zip.attr("value"), Some("90012"));
    assert_eq!(zip.attr("aria-invalid"), Some("true"));
    assert!(
        zip.attr("aria-describedby")
            .is_some_and(|d| d.contains("f-zip-error"))
    );
    assert_eq!(
        doc.select(&sel("#f-name"))
            .next()
            .expect("name")
            .value()
            .attr("value"),
        Some("<script>alert(1)</script>")
    );
    assert!(
        doc.select(&sel("#f-roles-money"))
            .next()
            .expect("money")
            .value()
            .attr("checked")
            .is_some()
    );
    assert!(
        doc.select(&sel("#f-roles-shopper"))
            .next()
            .expect("shopper")
            .value()
            .attr("checked")
            .is_none()
    );
    let notes = text_of(doc.root_element(), "#f-notes");
    assert_eq!(notes, "Sin \"gluten\" & sin sal");
}

#[test]
fn every_field_of_the_contract_is_stored_exported_and_compared_by_its_name() {
    use mutualaid_handler::store::{FIELDS, Submission};
    let signup = mutualaid_forms::SignupInput {
        name: Some("Ana".into()),
        email: Some("ana@example.org".into()),
        contact_method: Some("email".into()),
        zip: Some("92105".into()),
        roles: vec!["delivery".into()],
        consent: Some("on".into()),
        ..Default::default()
    }
    .validate_and_normalize()
    .expect("valid");
    let donation = mutualaid_forms::DonateInput {
        name: Some("Ana".into()),
        email: Some("ana@example.org".into()),
        frequency: Some("monthly".into()),
        consent: Some("on".into()),
        ..Default::default()
    }
    .validate_and_normalize()
    .expect("valid");
    let mut columns: HashSet<&str> = HashSet::new();
    for (form, submission) in [
        (FormId::Signup, Submission::Signup(signup)),
        (FormId::Donate, Submission::Donate(donation)),
    ] {
        let stored: Vec<&str> = submission
            .named_fields()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        // The contract's fields, but the consent box and the honeypot (checked, never kept).
        let contract: Vec<&str> = form
            .fields()
            .iter()
            .map(|f| f.name)
            .filter(|n| !["consent", "website"].contains(n))
            .collect();
        assert_eq!(
            stored,
            contract,
            "{}: one name per field, in the contract's order",
            form.key()
        );
        for name in &stored {
            assert!(FIELDS.contains(name), "{name} has an export column");
        }
        columns.extend(stored);
        let texts = submission.field_texts();
        for (name, text) in submission.named_fields() {
            let at = FIELDS.iter().position(|f| *f == name).expect("a column");
            assert_eq!(texts[at], text, "{name} is in its own column");
        }
    }
    assert_eq!(
        columns,
        FIELDS.iter().copied().collect(),
        "no export column without a field"
    );
}
