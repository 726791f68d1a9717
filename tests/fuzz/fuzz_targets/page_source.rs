//! A page's source on any text, as `mutualaid build` and `check` meet it:
//! front matter split and parsed, then the markdown rendered with the
//! site's settings and links. Nothing may panic, and every problem points
//! at a line of the file.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use mutualaid_site::Config;
use mutualaid_site::content::load_page;
use mutualaid_site::markdown::{LinkContext, render};

const CONFIG: &str = include_str!("../../../content/config.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config: Config = toml::from_str(CONFIG).expect("the real config");
    let lines = text.lines().count().max(1);
    let page = match load_page(
        PathBuf::from("pages/fuzz.md"),
        Path::new("fuzz.md"),
        text.to_owned(),
        &config,
    ) {
        Ok(page) => page,
        Err(problems) => {
            assert!(!problems.is_empty(), "a refusal says why");
            for p in problems {
                assert!(p.line >= 1 && p.line <= lines + 1, "line {} of {lines}", p.line);
            }
            return;
        }
    };
    let urls = HashMap::from([
        (("index".to_owned(), "en".to_owned()), "/".to_owned()),
        (("signup".to_owned(), "es".to_owned()), "/es/signup/".to_owned()),
    ]);
    let paths = HashSet::from(["/".to_owned(), "/es/signup/".to_owned()]);
    let ctx = LinkContext {
        lang: &page.lang,
        config: &config,
        urls: &urls,
        paths: &paths,
    };
    let rendered = render(&page.body, &ctx);
    let body_lines = page.body.lines().count().max(1);
    for p in rendered.problems {
        assert!(p.line >= 1 && p.line <= body_lines + 1, "line {} of {body_lines}", p.line);
    }
});
