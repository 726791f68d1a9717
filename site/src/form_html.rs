//! The HTML of a form, rendered from the contract ([`mutualaid_forms::spec`])
//! and the language's texts ([`crate::strings`]). The same function renders
//! the empty form on the built page and, in the handler, the form refilled
//! with what a person typed and the message beside each field they must fix.
//!
//! Markup follows the GOV.UK Design System: a label (or a fieldset and
//! legend) for every input, hints and errors tied with `aria-describedby`,
//! and an error summary linking to each field.

use std::collections::BTreeMap;
use std::fmt::Write;

use mutualaid_forms::{Field, FieldErrors, FormId, Kind};

use crate::strings::Strings;

/// What a person typed, by wire name; repeatable fields have several values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormValues(pub BTreeMap<String, Vec<String>>);

impl FormValues {
    /// From `(name, value)` pairs, as a form body decodes.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            map.entry(k.to_owned()).or_default().push(v.to_owned());
        }
        FormValues(map)
    }

    /// Every (name, value) pair, in name order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str())))
    }

    /// The value of a single-valued field (the last, if repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// Whether a choice was chosen.
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.iter().any(|x| x == value))
    }
}

/// Escapes text for HTML content and quoted attribute values (`& < > " '`).
pub fn esc(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// The `id` of a field's input (for a group of choices, its first choice),
/// which labels point at and the error summary links to.
pub fn input_id(field: &Field) -> String {
    match field.options.first() {
        Some(first) if matches!(field.kind, Kind::Radio | Kind::Checkboxes) => {
            format!("f-{}-{first}", field.name)
        }
        _ => format!("f-{}", field.name),
    }
}

/// Where the error summary's link for `field` leads: the input itself, or
/// for a group of choices its fieldset (so the question, its hint and its
/// error are in view above the choices, not cut off above the first one).
pub fn summary_target(field: &Field) -> String {
    match field.kind {
        Kind::Radio | Kind::Checkboxes => format!("f-{}", field.name),
        _ => input_id(field),
    }
}

/// Everything needed to render one form.
pub struct FormView<'a> {
    /// Which form.
    pub form: FormId,
    /// The page language's texts.
    pub strings: &'a Strings,
    /// The page language code, sent back in the hidden `lang` field.
    pub lang: &'a str,
    /// Where it posts.
    pub action: &'a str,
    /// Values to refill.
    pub values: &'a FormValues,
    /// Problems to show.
    pub errors: &'a FieldErrors,
}

/// The id of a part's note.
fn group_note_id(group: &str) -> String {
    format!("{group}-note")
}

impl FormView<'_> {
    fn label(&self, field: &Field) -> &str {
        self.strings
            .form(self.form)
            .fields
            .get(field.name)
            .and_then(|t| t.label.as_deref())
            .unwrap_or(field.name)
    }

    fn hint(&self, field: &Field) -> Option<&str> {
        self.strings
            .form(self.form)
            .fields
            .get(field.name)
            .and_then(|t| t.hint.as_deref())
    }

    fn option_label<'s>(&'s self, field: &Field, option: &'s str) -> &'s str {
        self.strings
            .form(self.form)
            .fields
            .get(field.name)
            .and_then(|t| t.options.get(option))
            .map(String::as_str)
            .unwrap_or(option)
    }

    fn error(&self, field: &Field) -> Option<String> {
        self.errors
            .first_code(field.name)
            .map(|code| self.strings.error_message(self.form, field, code))
    }

    /// The error summary: a heading and a link to each field with a problem.
    /// Empty when there are no errors.
    pub fn error_summary(&self) -> String {
        if self.errors.is_empty() {
            return String::new();
        }
        let ui = &self.strings.ui;
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<div class="error-summary" role="alert" tabindex="-1" autofocus aria-labelledby="error-summary-title"><h2 id="error-summary-title">{}</h2><ul>"#,
            esc(&ui.error_summary_title)
        );
        for field in self.form.fields() {
            if let Some(message) = self.error(field) {
                let _ = write!(
                    out,
                    r##"<li><a href="#{}">{}</a></li>"##,
                    summary_target(field),
                    esc(&message)
                );
            }
        }
        out.push_str("</ul></div>");
        out
    }

    /// The `<form>`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let _ = write!(
            out,
            r#"<form class="form" method="post" action="{}" novalidate>"#,
            esc(self.action)
        );
        let texts = self.strings.form(self.form);
        let mut group = None;
        for field in self.form.fields() {
            if field.group != group {
                group = field.group;
                if let Some(heading) = group.and_then(|g| texts.groups.get(g)) {
                    let _ = write!(out, "<h2>{}</h2>", esc(heading));
                }
                if let Some((g, note)) = group.and_then(|g| Some((g, texts.group_notes.get(g)?))) {
                    let _ = write!(
                        out,
                        r#"<p class="note" id="{}">{}</p>"#,
                        group_note_id(g),
                        esc(note)
                    );
                }
            }
            self.field(&mut out, field);
        }
        let submit = texts.submit.as_deref().unwrap_or("Send");
        let _ = write!(
            out,
            r#"<button type="submit" class="button">{}</button></form>"#,
            esc(submit)
        );
        out
    }

    fn field(&self, out: &mut String, field: &Field) {
        let name = field.name;
        let id = format!("f-{name}");
        match field.kind {
            Kind::Hidden => {
                let _ = write!(
                    out,
                    r#"<input type="hidden" name="{name}" value="{}">"#,
                    esc(self.lang)
                );
                return;
            }
            Kind::Honeypot => {
                let _ = write!(
                    out,
                    r#"<div class="hp"><label for="{id}">{}</label><input type="text" id="{id}" name="{name}" tabindex="-1" autocomplete="off"></div>"#,
                    esc(self.label(field))
                );
                return;
            }
            _ => {}
        }
        let error = self.error(field);
        let hint = self.hint(field);
        let mut described = Vec::new();
        if let Some(g) = field.group
            && self.strings.form(self.form).group_notes.contains_key(g)
        {
            described.push(group_note_id(g));
        }
        if hint.is_some() {
            described.push(format!("{id}-hint"));
        }
        if error.is_some() {
            described.push(format!("{id}-error"));
        }
        let described = if described.is_empty() {
            String::new()
        } else {
            format!(r#" aria-describedby="{}""#, described.join(" "))
        };
        let class = if error.is_some() {
            "field has-error"
        } else {
            "field"
        };
        let required_mark = if field.required {
            format!(
                r#" <span class="req">({})</span>"#,
                esc(&self.strings.ui.required)
            )
        } else {
            String::new()
        };
        let hint_html = hint
            .map(|h| format!(r#"<p class="hint" id="{id}-hint">{}</p>"#, esc(h)))
            .unwrap_or_default();
        let error_html = error
            .as_ref()
            .map(|m| {
                format!(
                    r#"<p class="error" id="{id}-error"><span class="vh">{} </span>{}</p>"#,
                    esc(&self.strings.ui.error_title_prefix),
                    esc(m)
                )
            })
            .unwrap_or_default();
        let invalid = if error.is_some() {
            r#" aria-invalid="true""#
        } else {
            ""
        };
        match field.kind {
            Kind::Radio | Kind::Checkboxes => {
                let _ = write!(
                    out,
                    r#"<fieldset class="{class}" id="f-{name}"{described}><legend>{}{required_mark}</legend>{hint_html}{error_html}"#,
                    esc(self.label(field))
                );
                let kind = field.kind.input_type().unwrap_or("radio");
                let required = if field.required && field.kind == Kind::Radio {
                    " required"
                } else {
                    ""
                };
                for option in field.options {
                    let checked = if self.values.has(name, option) {
                        " checked"
                    } else {
                        ""
                    };
                    let _ = write!(
                        out,
                        r#"<div class="choice"><input type="{kind}" id="{id}-{option}" name="{name}" value="{option}"{required}{checked}><label for="{id}-{option}">{}</label></div>"#,
                        esc(self.option_label(field, option))
                    );
                }
                out.push_str("</fieldset>");
            }
            Kind::Checkbox => {
                let checked = match self.values.get(name) {
                    Some(v) if mutualaid_forms::input::checkbox_value(Some(v)) == Some(true) => {
                        " checked"
                    }
                    _ => "",
                };
                let required = if field.required { " required" } else { "" };
                let _ = write!(
                    out,
                    r#"<div class="{class} choice">{error_html}<input type="checkbox" id="{id}" name="{name}" value="on"{required}{checked}{invalid}{described}><label for="{id}">{}{required_mark}</label>{hint_html}</div>"#,
                    esc(self.label(field))
                );
            }
            _ => {
                let _ = write!(
                    out,
                    r#"<div class="{class}"><label for="{id}">{}{required_mark}</label>{hint_html}{error_html}"#,
                    esc(self.label(field))
                );
                let mut attrs = String::new();
                if field.required {
                    attrs.push_str(" required");
                }
                if let Some(max) = field.max_len {
                    let _ = write!(attrs, r#" maxlength="{max}""#);
                }
                if let Some(pattern) = field.pattern {
                    let _ = write!(attrs, r#" pattern="{}""#, esc(pattern));
                }
                if let Some(ac) = field.autocomplete {
                    let _ = write!(attrs, r#" autocomplete="{ac}""#);
                }
                if let Some(mode) = field.inputmode {
                    let _ = write!(attrs, r#" inputmode="{mode}""#);
                }
                let value = self.values.get(name).unwrap_or("");
                if field.kind == Kind::Textarea {
                    let _ = write!(
                        out,
                        r#"<textarea id="{id}" name="{name}" rows="4"{attrs}{invalid}{described}>{}</textarea></div>"#,
                        esc(value)
                    );
                } else {
                    let kind = field.kind.input_type().unwrap_or("text");
                    let value = if value.is_empty() {
                        String::new()
                    } else {
                        format!(r#" value="{}""#, esc(value))
                    };
                    let _ = write!(
                        out,
                        r#"<input type="{kind}" id="{id}" name="{name}"{attrs}{invalid}{described}{value}></div>"#
                    );
                }
            }
        }
    }
}
