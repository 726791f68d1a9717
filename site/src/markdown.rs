//! Markdown to HTML: a pure function of the text and a [`LinkContext`]; no
//! file system. It fills in `{{ config.KEY }}`, resolves `@/page.md` links to
//! the page in the same language, gives headings ids, renders raw HTML as
//! text (pages carry no markup or scripts of their own), and reports what it
//! could not resolve with the line it is on.

use std::collections::{HashMap, HashSet};

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd, html};

use crate::config::Config;
use crate::diagnostic::line_of;

/// What link resolution needs to know about the whole site.
pub struct LinkContext<'a> {
    /// The language of the page being rendered.
    pub lang: &'a str,
    /// The site's settings, for `{{ config.KEY }}`.
    pub config: &'a Config,
    /// URL of each (page key, language).
    pub urls: &'a HashMap<(String, String), String>,
    /// Every path the built site serves.
    pub paths: &'a HashSet<String>,
}

/// A problem in the markdown: the line (1-based, within the text given),
/// what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line within the markdown text.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

/// Rendered HTML and what went wrong on the way.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The HTML.
    pub html: String,
    /// Unresolved settings and links.
    pub problems: Vec<Problem>,
}

/// The markdown extensions the site uses.
pub fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_SMART_PUNCTUATION
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_STRIKETHROUGH
}

/// Replaces each `{{ config.KEY }}` by its setting. Values are single-line,
/// so line numbers stay what they were in the file.
fn substitute(text: &str, config: &Config, lang: &str, problems: &mut Vec<Problem>) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let inner = rest[start + 2..start + len].trim();
        out.push_str(&rest[..start]);
        let value = inner
            .strip_prefix("config.")
            .and_then(|key| config.value(key, lang));
        match value {
            Some(v) => out.push_str(&v),
            None => {
                problems.push(Problem {
                    line: line_of(text, offset + start),
                    message: format!("`{{{{ {inner} }}}}` is not a setting"),
                    hint: "write `{{ config.KEY }}` with KEY one of: organization, short_name, contact_email, discord_url, donate_url, retention_days, contact_within_days, urgent_phone, food_bank_url (if set), base_url, api_base".into(),
                });
                out.push_str(&rest[start..start + len + 2]);
            }
        }
        offset += start + len + 2;
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// Resolves a link destination; `Err((message, hint))` if it goes nowhere.
fn resolve(dest: &str, ctx: &LinkContext) -> Result<Option<String>, (String, String)> {
    if let Some(target) = dest.strip_prefix("@/") {
        let (key, fragment) = match target.split_once('#') {
            Some((k, f)) => (k, Some(f)),
            None => (target, None),
        };
        return match ctx.urls.get(&(key.to_owned(), ctx.lang.to_owned())) {
            Some(url) => Ok(Some(match fragment {
                Some(f) => format!("{url}#{f}"),
                None => url.clone(),
            })),
            None => Err((
                format!("link to `{dest}`: there is no page `pages/{key}` in this language"),
                "internal links are `@/` and the English file's path under pages/, like `@/signup.md` or `@/signup/thanks.md`".into(),
            )),
        };
    }
    if dest.starts_with("//") {
        return Err((
            format!("link to `{dest}`: a link without `https:`"),
            "write the full address, `https://…`".into(),
        ));
    }
    if dest.starts_with('/') {
        let path = dest.split(['#', '?']).next().unwrap_or(dest);
        if ctx.paths.contains(path) {
            return Ok(None);
        }
        let hint = if ctx.paths.contains(&format!("{path}/")) {
            format!("end it with a slash: `{path}/`; better, link to the page file with `@/…md`")
        } else {
            "link to a page with `@/` and its file, like `@/resources.md`".into()
        };
        return Err((format!("link to `{dest}`: no page has this address"), hint));
    }
    let has_scheme = dest.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    if has_scheme || dest.starts_with('#') || dest.is_empty() {
        return Ok(None);
    }
    Err((
        format!("link to `{dest}`: a relative link breaks when the page moves"),
        format!(
            "link to a page with `@/` and its file, like `@/{}`",
            dest.trim_end_matches('/')
        ),
    ))
}

/// The plain text of a heading's events.
fn heading_text(events: &[Event]) -> String {
    let mut text = String::new();
    for e in events {
        if let Event::Text(t) | Event::Code(t) = e {
            text.push_str(t);
        }
    }
    text
}

/// Renders markdown to HTML.
pub fn render(markdown: &str, ctx: &LinkContext) -> Rendered {
    let mut problems = Vec::new();
    let text = substitute(markdown, ctx.config, ctx.lang, &mut problems);
    let mut events: Vec<Event> = Vec::with_capacity(text.len() / 16);
    let mut used_ids: HashSet<String> = HashSet::new();
    let mut heading: Option<(usize, HeadingLevel, Option<CowStr>, Vec<CowStr>)> = None;
    for (event, range) in Parser::new_ext(&text, options()).into_offset_iter() {
        let event = match event {
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => match resolve(&dest_url, ctx) {
                Ok(Some(url)) => Event::Start(Tag::Link {
                    link_type,
                    dest_url: url.into(),
                    title,
                    id,
                }),
                Ok(None) => Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }),
                Err((message, hint)) => {
                    problems.push(Problem {
                        line: line_of(&text, range.start),
                        message,
                        hint,
                    });
                    Event::Start(Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    })
                }
            },
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs: _,
            }) => {
                heading = Some((events.len(), level, id, classes));
                events.push(Event::Text("".into())); // replaced at the end of the heading
                continue;
            }
            Event::End(TagEnd::Heading(level)) => {
                if let Some((at, _, id, classes)) = heading.take() {
                    let base = match id {
                        Some(id) => id.to_string(),
                        None => slug::slugify(heading_text(&events[at + 1..])),
                    };
                    let base = if base.is_empty() {
                        "section".to_owned()
                    } else {
                        base
                    };
                    let mut id = base.clone();
                    let mut n = 1;
                    while !used_ids.insert(id.clone()) {
                        id = format!("{base}-{n}");
                        n += 1;
                    }
                    events[at] = Event::Start(Tag::Heading {
                        level,
                        id: Some(id.into()),
                        classes,
                        attrs: vec![],
                    });
                }
                Event::End(TagEnd::Heading(level))
            }
            other => other,
        };
        events.push(event);
    }
    let mut html_out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut html_out, events.into_iter());
    Rendered {
        html: html_out,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ctx(lang: &str, f: impl FnOnce(&LinkContext)) {
        let config = crate::config::test_config();
        let mut urls = HashMap::new();
        urls.insert(
            ("signup.md".to_owned(), "en".to_owned()),
            "/signup/".to_owned(),
        );
        urls.insert(
            ("signup.md".to_owned(), "es".to_owned()),
            "/es/signup/".to_owned(),
        );
        let paths: HashSet<String> = urls.values().cloned().collect();
        f(&LinkContext {
            lang,
            config: &config,
            urls: &urls,
            paths: &paths,
        });
    }

    #[test]
    fn internal_links_go_to_the_same_language() {
        with_ctx("es", |ctx| {
            let r = render("[Inscríbase](@/signup.md#f-zip)", ctx);
            assert!(r.html.contains(r#"href="/es/signup/#f-zip""#), "{}", r.html);
            assert!(r.problems.is_empty());
        });
    }

    #[test]
    fn settings_are_filled_in_and_unknown_ones_reported_with_their_line() {
        with_ctx("en", |ctx| {
            let r = render(
                "Write to [{{ config.contact_email }}](mailto:{{config.contact_email}}).\n\n{{ config.nope }}",
                ctx,
            );
            assert!(
                r.html.contains(r#"<a href="mailto:a@b.org">a@b.org</a>"#),
                "{}",
                r.html
            );
            assert_eq!(r.problems.len(), 1);
            assert_eq!(r.problems[0].line, 3);
        });
    }

    #[test]
    fn broken_links_are_reported_with_their_line() {
        with_ctx("en", |ctx| {
            let r = render(
                "ok [a](@/signup.md)\n\n[b](@/nope.md)\n[c](/nowhere/) [d](signup/) [e](https://x.org) [f](#top)",
                ctx,
            );
            let lines: Vec<usize> = r.problems.iter().map(|p| p.line).collect();
            assert_eq!(lines, [3, 4, 4], "{:?}", r.problems);
        });
    }

    #[test]
    fn headings_get_unique_ids_and_html_is_shown_as_text() {
        with_ctx("es", |ctx| {
            let r = render(
                "## ¿Qué es?\n\n## ¿Qué es?\n\n### Custom {#mine}\n\n<script>alert(1)</script>\n",
                ctx,
            );
            assert!(
                r.html.contains(r#"<h2 id="que-es">¿Qué es?</h2>"#),
                "{}",
                r.html
            );
            assert!(r.html.contains(r#"<h2 id="que-es-1">"#));
            assert!(r.html.contains(r#"<h3 id="mine">"#));
            assert!(!r.html.contains("<script>"));
            assert!(r.html.contains("&lt;script&gt;"));
        });
    }

    #[test]
    fn tables_footnotes_and_smart_punctuation() {
        with_ctx("en", |ctx| {
            let r = render(
                "| a | b |\n|---|---|\n| 1 | 2 |\n\nIt's \"so\"[^1].\n\n[^1]: Note.\n",
                ctx,
            );
            assert!(r.html.contains("<table>"));
            assert!(r.html.contains("It’s “so”"));
            assert!(r.html.contains("footnote"));
        });
    }
}
