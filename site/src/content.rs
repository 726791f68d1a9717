//! Pages: a markdown file under `content/pages/` with `+++` TOML front
//! matter. `x.md` is the default language's page, `x.es.md` its Spanish
//! twin; both share the *key* `x.md`, which is also how pages link to each
//! other (`@/x.md`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, line_of};

/// The front matter keys a page may have.
pub const FRONT_MATTER_KEYS: &str = "title, description, date, nav, nav_title, template, form";

/// What a page says about itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    /// The page's `<h1>` and `<title>`.
    pub title: String,
    /// One sentence for search engines and link previews.
    #[serde(default)]
    pub description: Option<String>,
    /// A date, kept for authors; not shown.
    #[serde(default)]
    pub date: Option<toml::value::Datetime>,
    /// Position in the header navigation, if the page is in it.
    #[serde(default)]
    pub nav: Option<u32>,
    /// Short label for the navigation.
    #[serde(default)]
    pub nav_title: Option<String>,
    /// `page` (default), `home` or `404`.
    #[serde(default)]
    pub template: Option<Spanned<String>>,
    /// A form rendered after the body: `signup` or `donate`.
    #[serde(default)]
    pub form: Option<Spanned<String>>,
    /// A sign-up page for one way of taking part: the form is shown with
    /// this role already chosen (`delivery`, `money`, `shopper`), so a
    /// link from the home page needs no JavaScript to choose it.
    #[serde(default)]
    pub role: Option<Spanned<String>>,
    /// `false`: search engines are asked not to index it, and it is not in
    /// the sitemap (thank-you pages: reached only by sending a form).
    #[serde(default = "indexed")]
    pub index: bool,
}

fn indexed() -> bool {
    true
}

impl Page {
    /// Whether search engines may list it: not the not-found page, not a
    /// page whose front matter says `index = false`.
    pub fn is_indexed(&self) -> bool {
        self.front.index && self.template != Template::NotFound
    }
}

/// Which layout a page uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// Title and body.
    Page,
    /// Title, body and the calls to action.
    Home,
    /// The not-found page: served for any missing path, so nothing relative.
    NotFound,
}

/// A loaded page, not yet rendered.
#[derive(Debug, Clone)]
pub struct Page {
    /// The file, relative to the content folder (`pages/signup.es.md`).
    pub source: PathBuf,
    /// The language-neutral key (`signup.md`) shared by twins.
    pub key: String,
    /// The page's language.
    pub lang: String,
    /// Its front matter.
    pub front: FrontMatter,
    /// The layout.
    pub template: Template,
    /// The form it shows, if any.
    pub form: Option<mutualaid_forms::FormId>,
    /// The markdown after the front matter.
    pub body: String,
    /// The file's line on which `body` starts.
    pub body_line: usize,
    /// The path people visit (`/es/signup/`).
    pub url: String,
    /// The file written, relative to the output folder (`es/signup/index.html`).
    pub output: PathBuf,
}

/// The parts of a page file.
struct Split<'a> {
    /// The TOML between the `+++` lines; it starts on line 2.
    front: &'a str,
    /// The markdown after the closing `+++`.
    body: &'a str,
    /// The line the body starts on.
    body_line: usize,
}

/// Splits `+++` front matter from the body, or says (message, hint) why not;
/// the problem is always on line 1.
fn split_front_matter(text: &str) -> Result<Split<'_>, (String, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text
        .strip_prefix("+++\n")
        .or_else(|| text.strip_prefix("+++\r\n"))
    else {
        return Err((
            "no front matter: the file must start with a line `+++`".into(),
            "start the file with `+++`, then `title = \"…\"`, then `+++`, then the markdown".into(),
        ));
    };
    let close = rest
        .match_indices("+++")
        .find(|(i, _)| {
            (*i == 0 || rest.as_bytes()[i - 1] == b'\n')
                && matches!(rest.as_bytes().get(i + 3), None | Some(b'\n' | b'\r'))
        })
        .map(|(i, _)| i);
    let Some(close) = close else {
        return Err((
            "the front matter is never closed".into(),
            "add a line `+++` after the last front matter line".into(),
        ));
    };
    let front = &rest[..close];
    let after = &rest[close + 3..];
    let body = after
        .strip_prefix("\r\n")
        .or_else(|| after.strip_prefix('\n'))
        .unwrap_or(after);
    let body_line = 2 + line_of(front, front.len());
    Ok(Split {
        front,
        body,
        body_line,
    })
}

/// The key, language and whether the file name named a language, from a path
/// relative to `pages/`: `signup/thanks.es.md` → (`signup/thanks.md`, `es`).
fn key_and_lang(rel: &Path, config: &Config) -> Result<(String, String), String> {
    let rel = rel.to_string_lossy().replace('\\', "/");
    let stem = rel.strip_suffix(".md").unwrap_or(&rel);
    if let Some((base, lang)) = stem.rsplit_once('.')
        && !lang.contains('/')
    {
        if lang == config.default_language() || !config.languages.iter().any(|l| l == lang) {
            return Err(lang.to_owned());
        }
        return Ok((format!("{base}.md"), lang.to_owned()));
    }
    Ok((format!("{stem}.md"), config.default_language().to_owned()))
}

/// The URL and output file of a page key in a language.
pub fn url_of(key: &str, lang: &str, config: &Config) -> (String, PathBuf) {
    let prefix = config.lang_prefix(lang);
    let stem = key.strip_suffix(".md").unwrap_or(key);
    let stem = stem.strip_suffix("_index").unwrap_or(stem);
    let stem = stem.trim_end_matches('/');
    let out_prefix = prefix.trim_start_matches('/');
    if stem == "404" {
        let out = Path::new(out_prefix).join("404.html");
        return (format!("{prefix}/404.html"), out);
    }
    if stem.is_empty() {
        return (
            format!("{prefix}/"),
            Path::new(out_prefix).join("index.html"),
        );
    }
    (
        format!("{prefix}/{stem}/"),
        Path::new(out_prefix).join(stem).join("index.html"),
    )
}

/// Reads one page. `source` is relative to the content folder, `rel` to `pages/`.
pub fn load_page(
    source: PathBuf,
    rel: &Path,
    text: String,
    config: &Config,
) -> Result<Page, Vec<Diagnostic>> {
    let err =
        |line, message: String, hint: String| vec![Diagnostic::new(&source, line, message, hint)];
    let (key, lang) = key_and_lang(rel, config).map_err(|lang| {
        err(
            1,
            format!("`.{lang}.md`: `{lang}` is not one of this site's other languages"),
            format!(
                "name the file `x.md` for {} and `x.LANG.md` for one of: {}",
                config.default_language(),
                config.languages[1..].join(", ")
            ),
        )
    })?;
    let Split {
        front: front_text,
        body,
        body_line,
    } = split_front_matter(&text).map_err(|(m, h)| err(1, m, h))?;
    let front_line = 2;
    let front: FrontMatter = toml::from_str(front_text).map_err(|e| {
        let line = front_line - 1 + e.span().map(|s| line_of(front_text, s.start)).unwrap_or(1);
        let message = e.message().trim().to_owned();
        let hint = if message.contains("unknown field") {
            format!("front matter keys are: {FRONT_MATTER_KEYS}")
        } else if message.contains("missing field") {
            "every page needs `title = \"…\"` in its front matter".to_owned()
        } else {
            "front matter is TOML between two `+++` lines: `key = \"text\"`, `nav = 3`".to_owned()
        };
        err(line, format!("front matter: {message}"), hint)
    })?;
    let mut problems = Vec::new();
    let at = |s: &Spanned<String>| front_line - 1 + line_of(front_text, s.span().start);
    let template = match front.template.as_ref().map(|t| (t, t.get_ref().as_str())) {
        None | Some((_, "page")) => Template::Page,
        Some((_, "home")) => Template::Home,
        Some((_, "404")) => Template::NotFound,
        Some((t, other)) => {
            problems.push(Diagnostic::new(
                &source,
                at(t),
                format!("unknown template `{other}`"),
                "use `page` (the default), `home` or `404`",
            ));
            Template::Page
        }
    };
    let form = match &front.form {
        None => None,
        Some(f) => {
            let form = mutualaid_forms::FormId::from_key(f.get_ref());
            if form.is_none() {
                problems.push(Diagnostic::new(
                    &source,
                    at(f),
                    format!("unknown form `{}`", f.get_ref()),
                    "use `form = \"signup\"` or `form = \"donate\"`",
                ));
            }
            form
        }
    };
    if let Some(role) = &front.role {
        let known = mutualaid_forms::spec::ROLES.contains(&role.get_ref().as_str());
        if form != Some(mutualaid_forms::FormId::Signup) || !known {
            problems.push(Diagnostic::new(
                &source,
                at(role),
                format!(
                    "`role = \"{}\"` needs the sign-up form and one of its roles",
                    role.get_ref()
                ),
                format!(
                    "write `form = \"signup\"` and a role among: {}",
                    mutualaid_forms::spec::ROLES.join(", ")
                ),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (url, output) = url_of(&key, &lang, config);
    Ok(Page {
        source,
        key,
        lang,
        template,
        form,
        body: body.to_owned(),
        body_line,
        url,
        output,
        front,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::test_config as config;

    #[test]
    fn urls_follow_the_file_tree_and_language() {
        let c = config();
        assert_eq!(url_of("_index.md", "en", &c).0, "/");
        assert_eq!(
            url_of("_index.md", "es", &c),
            ("/es/".into(), "es/index.html".into())
        );
        assert_eq!(
            url_of("signup/thanks.md", "en", &c),
            ("/signup/thanks/".into(), "signup/thanks/index.html".into())
        );
        assert_eq!(
            url_of("404.md", "es", &c),
            ("/es/404.html".into(), "es/404.html".into())
        );
        assert_eq!(url_of("pages/_index.md", "en", &c).0, "/pages/");
    }

    #[test]
    fn twins_share_a_key() {
        let c = config();
        assert_eq!(
            key_and_lang(Path::new("signup/thanks.es.md"), &c),
            Ok(("signup/thanks.md".into(), "es".into()))
        );
        assert_eq!(
            key_and_lang(Path::new("_index.md"), &c),
            Ok(("_index.md".into(), "en".into()))
        );
        assert_eq!(key_and_lang(Path::new("x.fr.md"), &c), Err("fr".into()));
    }

    #[test]
    fn front_matter_errors_name_the_line() {
        let c = config();
        let load = |text: &str| load_page("pages/x.md".into(), Path::new("x.md"), text.into(), &c);
        let e = load("+++\ntitle = \"a\"\ncolour = \"red\"\n+++\nbody").unwrap_err();
        assert_eq!(e[0].line, 3, "{e:?}");
        assert!(e[0].message.contains("colour"));
        let e = load("title = \"a\"\n").unwrap_err();
        assert_eq!(e[0].line, 1);
        let e = load("+++\n\ntitle = \"a\"\ntemplate = \"wide\"\n+++\n").unwrap_err();
        assert_eq!(e[0].line, 4, "{e:?}");
        let page = load("+++\ntitle = \"a\"\n+++\n\nbody").unwrap();
        assert_eq!(page.body_line, 4);
        assert_eq!(page.body, "\nbody");
    }
}
