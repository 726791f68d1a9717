//! One integration-test binary for the workspace; a module per area.

mod abuse; // issue 13: limits, slow clients, request ids, dotfiles, display tricks
mod aws; // DynamoDB adapter, faults and the submit Lambda, against moto
mod budget; // every built page fits in one round trip
mod built_site; // the real content, built: pages, twins, links, no third parties
mod case_links; // the digest's signed links: a page on GET, one action on POST, refusals that say why
mod cases; // requests stay open until closed; pairing over all of them; organizer actions; both stores
mod check; // `mutualaid check` on a clean and a broken fixture site
mod digest; // the organizers' digest through SES and the outbox
mod digest_promise; // at least once: a race with writers, a stopped run, a damaged record; both stores
mod discord; // the digest's summary on Discord: counts only, 429 waited out, a dead webhook stops nothing
mod erase; // a person's data deleted on request: one of a household, no trace left; SQLite and the digest Lambda
mod forms_html; // the built forms carry the contract's fields and attributes
mod handler; // the handler's answers, in process, on SQLite
mod infra; // the SAM template agrees with the code
mod intake; // nobody merged, overwritten or told who is on record: serve and the submit Lambda
mod languages; // issue 16: a third language, right to left, is config plus content
mod merge; // two records of one person made one, by an organizer: cases folded, nobody hidden; races; both stores
mod offers; // issue 27: the offer before a match, the introduction, the check-in; both stores
mod own_page; // issue 26: each person's own page: where they stand, buttons bound to what it showed, held pages, the link again; both stores
mod production; // issue 15: serve --production behind Caddy, the digest on its schedule
mod readme; // the README's code map matches the tree
mod receipts; // issue 26: a receipt per sign-up, through the outbox: its language, no answer, once, never lost; both stores
mod retention; // issue 23: nobody still waiting is deleted by retention; SQLite's purge, DynamoDB's TTL
mod rights; // issue 25: each Lambda's AWS rights follow from the calls its paths make
mod same_person; // issue 23: names compared as written; records of the old key rule found and re-keyed; both stores
mod serve; // `mutualaid serve` as a person uses it
mod slow_clients; // issue 24: hundreds of slow and idle clients hold neither serve nor Caddy
mod store_contract; // every store adapter keeps the same promises
mod store_model; // issue 25: random sequences agree on SQLite, DynamoDB and the in-memory model
mod what_people_see; // issue 14: a form's action opened by hand, the words around the form, pairing lines, production settings

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mutualaid_site::Site;

/// The real site, built once into a temporary folder for all tests.
pub struct Built {
    dir: tempfile::TempDir,
    /// The loaded site the files came from.
    pub site: Site,
}

impl Built {
    /// The output folder.
    pub fn out(&self) -> &Path {
        self.dir.path()
    }

    /// Every HTML page: (path relative to the output, its text), sorted.
    pub fn pages(&self) -> Vec<(PathBuf, String)> {
        let mut pages: Vec<(PathBuf, String)> = self
            .site
            .pages
            .iter()
            .map(|p| {
                let text =
                    std::fs::read_to_string(self.out().join(&p.output)).expect("a built page");
                (p.output.clone(), text)
            })
            .collect();
        pages.sort();
        pages
    }
}

/// Builds the real `content/` once.
pub fn real_site() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let site = Site::load(&mutualaid_tests::real_content())
            .unwrap_or_else(|e| panic!("content/ has problems:\n{e}"));
        let dir = tempfile::tempdir().expect("a temporary folder");
        site.build(dir.path()).expect("building the real site");
        Built { dir, site }
    })
}

/// Parses an HTML page.
pub fn html(text: &str) -> scraper::Html {
    scraper::Html::parse_document(text)
}

/// The text of the first element under `root` that `selector` finds
/// (panics naming the selector when there is none).
pub fn text_of(root: scraper::ElementRef<'_>, selector: &str) -> String {
    root.select(&sel(selector))
        .next()
        .unwrap_or_else(|| panic!("nothing matches {selector}"))
        .text()
        .collect()
}

/// A CSS selector.
pub fn sel(selector: &str) -> scraper::Selector {
    scraper::Selector::parse(selector).unwrap_or_else(|e| panic!("selector {selector}: {e}"))
}
