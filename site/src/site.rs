//! The whole site: [`Site::load`] reads and renders the content (config,
//! interface texts, every page's markdown) and checks it; [`Site::render`]
//! lays each page into the template; [`Site::build`] writes `public/`.
//! Rendering is pure and parallel; only `load` reads and only `build` writes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use mutualaid_forms::{FieldErrors, FormId};
use rayon::prelude::*;
use serde::Serialize;

use crate::config::Config;
use crate::content::{self, Page, Template};
use crate::diagnostic::{Diagnostic, Diagnostics, line_of};
use crate::form_html::{FormValues, FormView};
use crate::markdown::{self, LinkContext};
use crate::strings::{self, Strings};

/// Why a site could not be loaded or built.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The content has problems a person must fix.
    #[error("{0}")]
    Content(Diagnostics),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The output folder holds something that is not a built site.
    #[error(
        "{0} is not empty and does not look like a built site (no sitemap.xml); refusing to replace it. Choose another --out or empty it."
    )]
    ForeignOutput(PathBuf),
    /// The built-in template failed (a defect in this program, not in content).
    #[error("template: {0}")]
    Template(#[from] tera::Error),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SiteError {
    let path = path.to_owned();
    move |source| SiteError::Io {
        action,
        path,
        source,
    }
}

const PAGE_TEMPLATE: &str = include_str!("../templates/page.html");
const STYLE: &str = include_str!("../templates/style.css");

/// A loaded, checked site, ready to render.
pub struct Site {
    /// `config.toml` as written (to point at a setting's line).
    config_text: String,
    /// `config.toml`.
    pub config: Config,
    /// Interface texts by language.
    pub strings: BTreeMap<String, Strings>,
    /// Every page, sorted by key then language order.
    pub pages: Vec<Page>,
    /// Each page's rendered markdown, by index in `pages`.
    contents: Vec<String>,
    /// Indices of the pages sharing a key (twins), by key.
    by_key: HashMap<String, Vec<usize>>,
    /// Indices of the pages in the navigation, in order.
    nav: Vec<usize>,
    tera: tera::Tera,
    /// What works but should change (a setting under its old spelling):
    /// `mutualaid check` prints these.
    pub notes: Vec<Diagnostic>,
}

/// A form page refilled for a person: what they typed, what to fix, or why
/// it could not be taken now.
#[derive(Default)]
pub struct FormState<'a> {
    /// What they typed.
    pub values: Option<&'a FormValues>,
    /// What to fix.
    pub errors: Option<&'a FieldErrors>,
    /// A notice above the form.
    pub notice: Option<Notice>,
}

/// Why a form was not taken, though nothing in it was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The store could not take it: try again.
    Unavailable,
    /// Too many submissions from this connection: wait, then try again.
    TooManyRequests,
    /// Sent from another website: not saved; here is our form.
    CrossSite,
    /// Too long to read (over the handler's body limit): shorten it.
    TooLarge,
    /// Could not be read as a form: send it again.
    Malformed,
}

impl Notice {
    /// Its code (the JSON `error`) and, in `ui`'s language, its title and text.
    pub fn texts(self, ui: &crate::strings::Ui) -> (&'static str, &str, &str) {
        match self {
            Notice::Unavailable => ("unavailable", &ui.unavailable_title, &ui.unavailable_text),
            Notice::TooManyRequests => ("rate_limited", &ui.too_many_title, &ui.too_many_text),
            Notice::CrossSite => ("cross_site", &ui.cross_site_title, &ui.cross_site_text),
            Notice::TooLarge => ("too_large", &ui.too_large_title, &ui.too_large_text),
            Notice::Malformed => ("malformed", &ui.malformed_title, &ui.malformed_text),
        }
    }
}

#[derive(Serialize)]
struct NoticeView<'a> {
    title: &'a str,
    text: &'a str,
    link: Option<NoticeLink<'a>>,
}

#[derive(Serialize)]
struct NoticeLink<'a> {
    href: &'a str,
    text: &'a str,
}

#[derive(Serialize)]
struct Alternate<'a> {
    lang: &'a str,
    href: String,
}

#[derive(Serialize)]
struct Twin<'a> {
    lang: &'a str,
    url: &'a str,
    name: &'a str,
    /// On a form's answer (an error page): what the language switch posts
    /// back, so the same input is shown in the other language.
    keep: Vec<(String, String)>,
}

/// The line (1-based) of `config.toml`'s text on which `key` is set.
fn config_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.split('=').next().is_some_and(|k| k.trim() == key))
        .map(|i| i + 1)
}

/// The field a language switch on a form's answer posts: show the form
/// again in the language it names, with what was typed; store nothing.
pub const SWITCH_LANGUAGE_FIELD: &str = "switch_language";

#[derive(Serialize)]
struct NavItem<'a> {
    url: &'a str,
    title: &'a str,
    current: bool,
}

#[derive(Serialize)]
struct PageView<'a> {
    title: &'a str,
    description: Option<&'a str>,
    url: &'a str,
}

/// Where the content is read from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// A content folder.
    Folder(&'a Path),
    /// Files in memory, by path relative to the content folder
    /// (`config.toml`, `pages/about.md`).
    Files(&'a BTreeMap<PathBuf, String>),
}

impl Source<'_> {
    /// A file's text, by its path relative to the content folder.
    fn read(self, rel: &Path) -> Result<String, SiteError> {
        match self {
            Source::Folder(root) => {
                let path = root.join(rel);
                fs::read_to_string(&path).map_err(io("reading", &path))
            }
            Source::Files(files) => files.get(rel).cloned().ok_or_else(|| SiteError::Io {
                action: "reading",
                path: rel.to_owned(),
                source: std::io::ErrorKind::NotFound.into(),
            }),
        }
    }

    /// Every `.md` file below `dir` (relative to the content folder),
    /// relative to `dir`, sorted; none whose name or folder starts with `.`.
    fn markdown_files(self, dir: &Path) -> Result<Vec<PathBuf>, SiteError> {
        match self {
            Source::Folder(root) => markdown_files(&root.join(dir)),
            Source::Files(files) => Ok(files
                .keys()
                .filter_map(|p| p.strip_prefix(dir).ok())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .filter(|p| {
                    !p.components()
                        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
                })
                .map(Path::to_path_buf)
                .collect()),
        }
    }
}

/// Every `.md` file below `dir`, relative to it, sorted.
fn markdown_files(dir: &Path) -> Result<Vec<PathBuf>, SiteError> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for entry in fs::read_dir(&here).map_err(io("listing", &here))? {
            let entry = entry.map_err(io("listing", &here))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = rel.join(&name);
            let kind = entry.file_type().map_err(io("listing", &here))?;
            if kind.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn toml_diagnostic(file: &str, source: &str, e: &toml::de::Error, hint: String) -> Diagnostic {
    let line = e.span().map(|s| line_of(source, s.start)).unwrap_or(1);
    Diagnostic::new(file, line, e.message().trim(), hint)
}

impl Site {
    /// Reads the content folder, renders every page's markdown and checks
    /// everything; all problems come back together.
    pub fn load(root: &Path) -> Result<Site, SiteError> {
        Self::load_from(Source::Folder(root))
    }

    /// The same from files held in memory, by their paths relative to the
    /// content folder (`config.toml`, `i18n/en.toml`, `pages/_index.md`):
    /// what the Lambdas compile in.
    pub fn from_files(files: &BTreeMap<PathBuf, String>) -> Result<Site, SiteError> {
        Self::load_from(Source::Files(files))
    }

    fn load_from(source: Source<'_>) -> Result<Site, SiteError> {
        let mut problems = Vec::new();
        let config_text = source.read(Path::new("config.toml"))?;
        let config: Config = toml::from_str(&config_text).map_err(|e| {
            let hint = if e.message().contains("unknown field") {
                format!(
                    "remove or correct the key; the settings are: {}",
                    crate::config::KEYS.join(", ")
                )
            } else {
                "config.toml is TOML: `key = \"value\"`".to_owned()
            };
            SiteError::Content(Diagnostics(vec![toml_diagnostic(
                "config.toml",
                &config_text,
                &e,
                hint,
            )]))
        })?;
        if config.languages.is_empty() {
            return Err(SiteError::Content(Diagnostics(vec![Diagnostic::new(
                "config.toml",
                1,
                "`languages` is empty",
                "list the languages, the default first: `languages = [\"en\", \"es\"]`",
            )])));
        }
        if let Some(bad) = config
            .languages
            .iter()
            .find(|l| mutualaid_forms::Lang::parse(l).is_none())
        {
            return Err(SiteError::Content(Diagnostics(vec![Diagnostic::new(
                "config.toml",
                config_line(&config_text, "languages").unwrap_or(1),
                format!("`{bad}` is not a language code"),
                "write the language's ISO 639 code in lowercase: \"ar\", \"vi\", \"fil\"",
            )])));
        }

        let mut strings = BTreeMap::new();
        for lang in &config.languages {
            let file = format!("i18n/{lang}.toml");
            let Ok(text) = source.read(Path::new(&file)) else {
                problems.push(Diagnostic::new(
                    &file,
                    1,
                    format!("no interface texts for `{lang}`"),
                    format!(
                        "create {file} (copy i18n/{}.toml and translate it)",
                        config.default_language()
                    ),
                ));
                continue;
            };
            match toml::from_str::<Strings>(&text) {
                Ok(mut s) => {
                    problems.extend(strings::check_against_contract(&file, &text, &s));
                    // Counts take their words by this language's plural rule.
                    s.digest.lang = lang.clone();
                    s.digest.discord.lang = lang.clone();
                    s.messages.lang = lang.clone();
                    strings.insert(lang.clone(), s);
                }
                Err(e) => problems.push(toml_diagnostic(
                    &file,
                    &text,
                    &e,
                    "compare with the other language's file: same keys, translated values".into(),
                )),
            }
        }

        let pages_dir = Path::new("pages");
        let files = source.markdown_files(pages_dir)?;
        let loaded: Vec<Result<Page, Vec<Diagnostic>>> = files
            .par_iter()
            .map(|rel| {
                let text = source.read(&pages_dir.join(rel)).map_err(|e| {
                    vec![Diagnostic::new(
                        Path::new("pages").join(rel),
                        1,
                        format!("cannot read: {e}"),
                        "is it UTF-8 text?",
                    )]
                })?;
                content::load_page(Path::new("pages").join(rel), rel, text, &config)
            })
            .collect();
        let mut pages = Vec::with_capacity(loaded.len());
        for result in loaded {
            match result {
                Ok(page) => pages.push(page),
                Err(d) => problems.extend(d),
            }
        }
        let lang_order = |l: &str| {
            config
                .languages
                .iter()
                .position(|x| x == l)
                .unwrap_or(usize::MAX)
        };
        pages.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(lang_order(&a.lang).cmp(&lang_order(&b.lang)))
        });

        problems.extend(Self::check_twins(&pages, &config));

        let urls: HashMap<(String, String), String> = pages
            .iter()
            .map(|p| ((p.key.clone(), p.lang.clone()), p.url.clone()))
            .collect();
        let mut paths: HashSet<String> = pages.iter().map(|p| p.url.clone()).collect();
        paths.extend(["/sitemap.xml".to_owned(), "/robots.txt".to_owned()]);
        let rendered: Vec<markdown::Rendered> = pages
            .par_iter()
            .map(|p| {
                let ctx = LinkContext {
                    lang: &p.lang,
                    config: &config,
                    urls: &urls,
                    paths: &paths,
                };
                markdown::render(&p.body, &ctx)
            })
            .collect();
        let mut contents = Vec::with_capacity(rendered.len());
        for (page, r) in pages.iter().zip(rendered) {
            problems.extend(r.problems.into_iter().map(|p| {
                Diagnostic::new(&page.source, page.body_line + p.line - 1, p.message, p.hint)
            }));
            contents.push(r.html);
        }

        if !problems.is_empty() {
            problems.sort();
            problems.dedup();
            return Err(SiteError::Content(Diagnostics(problems)));
        }
        let mut tera = tera::Tera::default();
        tera.add_raw_template("page.html", PAGE_TEMPLATE)?;
        tera.set_escape_fn(crate::form_html::esc);
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in pages.iter().enumerate() {
            by_key.entry(p.key.clone()).or_default().push(i);
        }
        let mut nav: Vec<usize> = (0..pages.len())
            .filter(|i| pages[*i].front.nav.is_some())
            .collect();
        nav.sort_by_key(|i| (pages[*i].front.nav, &pages[*i].url));
        // A name given per language must be given in every language.
        let name_problems: Vec<Diagnostic> = [
            ("organization", Some(&config.organization)),
            ("short_name", config.short_name.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, name)| {
            let missing = name?.missing(&config.languages);
            if missing.is_empty() {
                return None;
            }
            let line = config_line(&config_text, key).unwrap_or(1);
            Some(Diagnostic::new(
                "config.toml",
                line,
                format!("`{key}` has no name in {}", missing.join(", ")),
                format!("give it one per language: {key} = {{ en = \"…\", es = \"…\" }}"),
            ))
        })
        .collect();
        let name_problems: Vec<Diagnostic> = name_problems
            .into_iter()
            .chain(
                config
                    .schedule_problems()
                    .into_iter()
                    .map(|(key, why, hint)| {
                        let line = config_line(&config_text, key).unwrap_or(1);
                        Diagnostic::new("config.toml", line, why, hint)
                    }),
            )
            .collect();
        if !name_problems.is_empty() {
            return Err(SiteError::Content(Diagnostics(name_problems)));
        }
        let notes = crate::config::OLD_KEYS
            .iter()
            .filter_map(|(old, new)| {
                let line = config_line(&config_text, old)?;
                Some(Diagnostic::new(
                    "config.toml",
                    line,
                    format!("`{old}` is the old spelling of `{new}` (still read)"),
                    format!("write `{new} = ...`"),
                ))
            })
            .collect();
        Ok(Site {
            config_text,
            config,
            strings,
            pages,
            contents,
            by_key,
            nav,
            tera,
            notes,
        })
    }

    /// What a live site must not ship (`check --production`,
    /// `build --production`): every setting still a placeholder, at its line
    /// in `config.toml`.
    pub fn production_problems(&self) -> Vec<Diagnostic> {
        let text = &self.config_text;
        let mut problems: Vec<Diagnostic> = self
            .config
            .placeholders()
            .into_iter()
            .map(|(key, why)| {
                let line = config_line(text, key).unwrap_or(1);
                Diagnostic::new(
                    "config.toml",
                    line,
                    why,
                    format!("set `{key}` to the network's real one before the site goes live"),
                )
            })
            .collect();
        problems.sort_by_key(|p| p.line);
        problems
    }

    /// Every page must exist in every language.
    fn check_twins(pages: &[Page], config: &Config) -> Vec<Diagnostic> {
        let mut by_key: BTreeMap<&str, Vec<&Page>> = BTreeMap::new();
        for p in pages {
            by_key.entry(&p.key).or_default().push(p);
        }
        let mut out = Vec::new();
        for (key, twins) in by_key {
            let first = twins[0];
            for lang in &config.languages {
                if twins.iter().any(|p| &p.lang == lang) {
                    continue;
                }
                let stem = key.strip_suffix(".md").unwrap_or(key);
                let wanted = if lang == config.default_language() {
                    format!("pages/{stem}.md")
                } else {
                    format!("pages/{stem}.{lang}.md")
                };
                out.push(Diagnostic::new(
                    &first.source,
                    1,
                    format!("`{}` has no `{lang}` twin", first.source.display()),
                    format!("create `{wanted}`, the same page translated; every page exists in every language"),
                ));
            }
        }
        out
    }

    /// The page with `key` in `lang`.
    pub fn page(&self, key: &str, lang: &str) -> Option<&Page> {
        self.twins(key).find(|p| p.lang == lang)
    }

    /// The page with `key` in every language it exists in.
    fn twins<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a Page> + 'a {
        self.by_key
            .get(key)
            .into_iter()
            .flatten()
            .map(|i| &self.pages[*i])
    }

    /// Renders the page in `lang` that shows `form`, refilled with `state`
    /// (the handler's error and try-again pages). `None` if no page shows it.
    pub fn render_form_page(
        &self,
        form: FormId,
        lang: &str,
        state: &FormState,
    ) -> Option<Result<String, SiteError>> {
        let page = self.form_page(form, lang)?;
        let index = self.pages.iter().position(|p| std::ptr::eq(p, page))?;
        Some(self.render_page(index, state))
    }

    /// The page in `lang` that shows `form` (the one in the navigation, or
    /// the first).
    pub fn form_page(&self, form: FormId, lang: &str) -> Option<&Page> {
        let shows = |p: &&Page| p.form == Some(form) && p.lang == lang;
        self.nav
            .iter()
            .map(|i| &self.pages[*i])
            .find(shows)
            .or_else(|| self.pages.iter().find(shows))
    }

    fn absolute(&self, url: &str) -> String {
        format!("{}{}", self.config.base_url.trim_end_matches('/'), url)
    }

    fn url_or_home(&self, key: &str, lang: &str) -> &str {
        self.page(key, lang)
            .or_else(|| self.page("_index.md", lang))
            .map(|p| p.url.as_str())
            .unwrap_or("/")
    }

    /// Renders one page (index into `pages`) with its form in `state`.
    pub fn render_page(&self, index: usize, state: &FormState) -> Result<String, SiteError> {
        let page = &self.pages[index];
        let lang = page.lang.as_str();
        let strings = &self.strings[lang];
        let mut ctx = tera::Context::new();
        let twins: Vec<&Page> = self.twins(&page.key).collect();
        let alternates: Vec<Alternate> = twins
            .iter()
            .map(|p| Alternate {
                lang: &p.lang,
                href: self.absolute(&p.url),
            })
            .chain(
                twins
                    .iter()
                    .find(|p| p.lang == self.config.default_language())
                    .map(|p| Alternate {
                        lang: "x-default",
                        href: self.absolute(&p.url),
                    }),
            )
            .collect();
        let other: Vec<Twin> = twins
            .iter()
            .filter(|p| p.lang != lang)
            .map(|p| Twin {
                lang: &p.lang,
                url: &p.url,
                name: self
                    .strings
                    .get(&p.lang)
                    .map(|s| s.language_name.as_str())
                    .unwrap_or(&p.lang),
                keep: match (state.values, page.form) {
                    // An answer to a form: switching language keeps what was typed.
                    (Some(values), Some(_)) => values
                        .pairs()
                        .filter(|(k, _)| !matches!(*k, "lang" | "website" | SWITCH_LANGUAGE_FIELD))
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .chain([
                            ("lang".to_owned(), p.lang.clone()),
                            (SWITCH_LANGUAGE_FIELD.to_owned(), "1".to_owned()),
                        ])
                        .collect(),
                    _ => Vec::new(),
                },
            })
            .collect();
        let form_action = page.form.map(|form| {
            format!(
                "{}/{}",
                self.config.api_base.trim_end_matches('/'),
                form.key()
            )
        });
        ctx.insert("form_action", &form_action);
        let nav: Vec<NavItem> = self
            .nav
            .iter()
            .map(|i| &self.pages[*i])
            .filter(|p| p.lang == lang)
            .map(|p| NavItem {
                url: &p.url,
                title: p.front.nav_title.as_deref().unwrap_or(&p.front.title),
                current: p.key == page.key,
            })
            .collect();

        // A page for one way of taking part shows the form with that role chosen.
        let empty_values = match &page.front.role {
            Some(role) => FormValues::from_pairs([("roles", role.get_ref().as_str())]),
            None => FormValues::default(),
        };
        let no_errors = FieldErrors::default();
        let (form_html, summary) = match page.form {
            Some(form) => {
                let action = format!(
                    "{}/{}",
                    self.config.api_base.trim_end_matches('/'),
                    form.key()
                );
                let view = FormView {
                    form,
                    strings,
                    lang,
                    action: &action,
                    values: state.values.unwrap_or(&empty_values),
                    errors: state.errors.unwrap_or(&no_errors),
                };
                (view.render(), view.error_summary())
            }
            None => (String::new(), String::new()),
        };

        ctx.insert("lang", lang);
        ctx.insert(
            "page",
            &PageView {
                title: &page.front.title,
                description: page.front.description.as_deref(),
                url: &page.url,
            },
        );
        ctx.insert("strings", strings);
        ctx.insert("ui", &strings.ui);
        ctx.insert("canonical", &self.absolute(&page.url));
        ctx.insert("alternates", &alternates);
        ctx.insert("twins", &other);
        ctx.insert("nav", &nav);
        ctx.insert("content", &self.contents[index]);
        ctx.insert("form", &form_html);
        ctx.insert("error_summary", &summary);
        let notice = state.notice.map(|n| {
            let (_, title, text) = n.texts(&strings.ui);
            NoticeView {
                title,
                text,
                link: (n == Notice::CrossSite).then_some(NoticeLink {
                    href: &page.url,
                    text: &strings.ui.cross_site_link,
                }),
            }
        });
        ctx.insert("notice", &notice);
        ctx.insert("is_home", &(page.template == Template::Home));
        // The giving page leads with the way to give money now; the interest form comes second.
        let give_url =
            (page.form == Some(FormId::Donate)).then_some(self.config.donate_url.as_str());
        ctx.insert("give_url", &give_url);
        if page.template == Template::Home {
            // The ways in, first thing on the home page: a page per way of
            // taking part (the form with that role chosen), then giving.
            let mut ways: Vec<NavItem> = ["delivery", "money", "shopper"]
                .iter()
                .filter_map(|role| {
                    self.pages.iter().find(|p| {
                        p.lang == lang && p.front.role.as_ref().is_some_and(|r| r.get_ref() == role)
                    })
                })
                .map(|p| NavItem {
                    url: &p.url,
                    title: &p.front.title,
                    current: false,
                })
                .collect();
            if let Some(give) = self.form_page(FormId::Donate, lang) {
                ways.push(NavItem {
                    url: &give.url,
                    title: give.front.nav_title.as_deref().unwrap_or(&give.front.title),
                    current: false,
                });
            }
            ctx.insert("ways", &ways);
        }
        ctx.insert("is_404", &(page.template == Template::NotFound));
        // Not for search engines: the not-found page, thank-you pages, and
        // any page shown with a form's errors or a notice (the handler's answers).
        ctx.insert(
            "noindex",
            &(!page.is_indexed() || !summary.is_empty() || state.notice.is_some()),
        );
        ctx.insert("css", STYLE);
        ctx.insert("home_url", self.url_or_home("_index.md", lang));
        ctx.insert("privacy_url", self.url_or_home("privacy.md", lang));
        ctx.insert("contact_email", &self.config.contact_email);
        ctx.insert("organization", self.config.organization_in(lang));
        ctx.insert("site_name", self.config.short_name_in(lang));
        Ok(self.tera.render("page.html", &ctx)?)
    }

    fn sitemap(&self) -> String {
        let mut by_key: BTreeMap<&str, Vec<&Page>> = BTreeMap::new();
        for p in self.pages.iter().filter(|p| p.is_indexed()) {
            by_key.entry(&p.key).or_default().push(p);
        }
        let mut out = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" xmlns:xhtml=\"http://www.w3.org/1999/xhtml\">\n",
        );
        for twins in by_key.values() {
            for p in twins {
                out.push_str("<url><loc>");
                out.push_str(&crate::form_html::esc(&self.absolute(&p.url)));
                out.push_str("</loc>");
                for t in twins.iter().filter(|_| twins.len() > 1) {
                    out.push_str(&format!(
                        "<xhtml:link rel=\"alternate\" hreflang=\"{}\" href=\"{}\"/>",
                        t.lang,
                        crate::form_html::esc(&self.absolute(&t.url))
                    ));
                }
                out.push_str("</url>\n");
            }
        }
        out.push_str("</urlset>\n");
        out
    }

    /// Every file of the built site: path relative to the output folder, bytes.
    pub fn render(&self) -> Result<Vec<(PathBuf, Vec<u8>)>, SiteError> {
        let mut files: Vec<(PathBuf, Vec<u8>)> = (0..self.pages.len())
            .into_par_iter()
            .map(|i| {
                Ok((
                    self.pages[i].output.clone(),
                    self.render_page(i, &FormState::default())?.into_bytes(),
                ))
            })
            .collect::<Result<_, SiteError>>()?;
        files.extend(self.site_files());
        Ok(files)
    }

    /// The files that are not pages: the sitemap and robots.txt.
    fn site_files(&self) -> [(PathBuf, Vec<u8>); 2] {
        [
            ("sitemap.xml".into(), self.sitemap().into_bytes()),
            (
                "robots.txt".into(),
                format!(
                    "User-agent: *\nAllow: /\nSitemap: {}\n",
                    self.absolute("/sitemap.xml")
                )
                .into_bytes(),
            ),
        ]
    }

    /// Writes the site to `out`, replacing an earlier build there. Pages are
    /// written as they are rendered (never all held in memory) into a
    /// staging folder beside `out`; only when every page is written does the
    /// earlier build make way, so a failed build leaves it whole.
    pub fn build(&self, out: &Path) -> Result<BuildReport, SiteError> {
        check_output(out)?;
        let staging = staging_folder(out);
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io("removing", &staging))?;
        }
        let report = match self.write_into(&staging) {
            Ok(report) => report,
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                return Err(e);
            }
        };
        empty_output(out)?;
        for entry in fs::read_dir(&staging).map_err(io("opening", &staging))? {
            let from = entry.map_err(io("opening", &staging))?.path();
            let to = out.join(from.file_name().unwrap_or_default());
            fs::rename(&from, &to).map_err(io("moving into place", &to))?;
        }
        fs::remove_dir(&staging).map_err(io("removing", &staging))?;
        Ok(report)
    }

    /// Renders and writes every file into the new folder `dir`.
    fn write_into(&self, dir: &Path) -> Result<BuildReport, SiteError> {
        let site_files = self.site_files();
        let dirs: BTreeSet<PathBuf> = self
            .pages
            .iter()
            .map(|p| p.output.as_path())
            .chain(site_files.iter().map(|(p, _)| p.as_path()))
            .filter_map(Path::parent)
            .map(|d| dir.join(d))
            .collect();
        fs::create_dir_all(dir).map_err(io("creating", dir))?;
        for d in &dirs {
            fs::create_dir_all(d).map_err(io("creating", d))?;
        }
        let page_bytes = (0..self.pages.len())
            .into_par_iter()
            .map(|i| {
                let html = self.render_page(i, &FormState::default())?;
                let path = dir.join(&self.pages[i].output);
                fs::write(&path, &html).map_err(io("writing", &path))?;
                Ok::<usize, SiteError>(html.len())
            })
            .try_reduce(|| 0, |a, b| Ok(a + b))?;
        let mut bytes = page_bytes;
        for (rel, content) in &site_files {
            let path = dir.join(rel);
            fs::write(&path, content).map_err(io("writing", &path))?;
            bytes += content.len();
        }
        Ok(BuildReport {
            pages: self.pages.len(),
            files: self.pages.len() + site_files.len(),
            bytes,
        })
    }
}

/// What a build wrote.
#[derive(Debug, Clone, Copy)]
pub struct BuildReport {
    /// HTML pages.
    pub pages: usize,
    /// Files in all.
    pub files: usize,
    /// Bytes in all.
    pub bytes: usize,
}

/// Refuses an output folder that holds something other than an earlier build.
fn check_output(out: &Path) -> Result<(), SiteError> {
    match fs::read_dir(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("opening", out)(e)),
        Ok(mut entries) => {
            if entries.next().is_some() && !out.join("sitemap.xml").is_file() {
                return Err(SiteError::ForeignOutput(out.to_owned()));
            }
            Ok(())
        }
    }
}

/// Where a build is written before it replaces the one in `out`: a hidden
/// folder beside it, on the same file system, so moving it in is a rename.
fn staging_folder(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "public".into());
    out.with_file_name(format!(".{name}.building"))
}

/// Empties `out` (checked by [`check_output`]), or creates it. It is
/// emptied rather than removed, so a server serving it keeps its folder.
fn empty_output(out: &Path) -> Result<(), SiteError> {
    if let Ok(entries) = fs::read_dir(out) {
        for entry in entries {
            let path = entry.map_err(io("opening", out))?.path();
            if path.is_dir() {
                fs::remove_dir_all(&path).map_err(io("removing", &path))?;
            } else {
                fs::remove_file(&path).map_err(io("removing", &path))?;
            }
        }
    }
    fs::create_dir_all(out).map_err(io("creating", out))
}
