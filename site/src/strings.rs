//! `content/i18n/<lang>.toml`: the words of the interface in each language —
//! navigation, buttons, and every form label, hint, option and error message.
//! [`check_against_contract`] proves each language has a text for everything
//! the form contract can show.

use std::collections::BTreeMap;

use mutualaid_forms::{Field, FormId, Kind};
use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;

/// Which way a script runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Left to right.
    #[default]
    Ltr,
    /// Right to left.
    Rtl,
}

/// One language's interface texts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Strings {
    /// The language's name in itself ("Español"), for the language switch.
    pub language_name: String,
    /// Which way its script runs (`rtl` for Arabic, Hebrew, Persian, Urdu;
    /// `ltr` if left out): the pages' `dir`.
    #[serde(default)]
    pub direction: Direction,
    /// Navigation, footer, buttons, error-page words.
    pub ui: Ui,
    /// Form texts by form key (`signup`, `donate`).
    #[serde(default)]
    pub forms: BTreeMap<String, FormTexts>,
    /// The organizers' daily digest.
    pub digest: DigestTexts,
    /// The messages to people (receipts): `check` fails when a language
    /// lacks one.
    pub messages: MessageTexts,
    /// Each person's own page.
    pub own_page: OwnPageTexts,
    /// The offer, the introduction, the check-in, and their buttons.
    pub pairing: PairingTexts,
}

/// The words of the messages sent to people; `{…}` are filled in. A
/// receipt repeats none of the answers, not even the name: the address is
/// not verified, and a mistyped one must not tell a stranger anything about
/// a neighbour. Subjects are neutral: the network's name and "we got your
/// form", never what was asked for.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each is named for where it shows
pub struct MessageTexts {
    /// The language these words are in (from the file's name).
    #[serde(skip)]
    pub lang: String,
    /// Month names, January first, for dates.
    pub months: Vec<String>,
    /// A date: `{day}`, `{month}`, `{year}`.
    pub date: String,
    pub signup_subject: String,
    pub donate_subject: String,
    pub change_subject: String,
    pub signup_received: String,
    pub donate_received: String,
    pub change_received: String,
    pub signup_next: Counted,
    pub donate_next: String,
    pub urgent: String,
    pub food_today: String,
    pub recurring: String,
    pub reply: String,
    pub not_you: String,
    /// The private link's line: `{url}`.
    pub own_page: String,
    /// The "stop emails" page behind `List-Unsubscribe`.
    pub not_me_title: String,
    pub not_me_text: String,
    pub btn_not_me: String,
    pub not_me_done: String,
    pub stop_title: String,
    pub stop_text: String,
    pub btn_stop: String,
    pub stopped: String,
    /// "Email me my link again": its subject, its line with `{date}`, and
    /// what to do if they did not ask.
    pub link_subject: String,
    pub link_sent: String,
    pub link_ignore: String,
    pub contact_subject: String,
    pub contact_changed: String,
    pub contact_next: String,
}

/// The words of each person's own page (behind the private link in their
/// receipt); `{…}` are filled in. It says where they stand in general
/// words and shows none of their details.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each is named for where it shows
pub struct OwnPageTexts {
    pub title: String,
    pub signup_received: String,
    pub donate_received: String,
    pub looking: Counted,
    pub money_waiting: Counted,
    pub matched: String,
    pub funded: String,
    pub closed: String,
    pub volunteer: String,
    pub paused: String,
    pub actions: String,
    pub btn_withdraw: String,
    pub pause_for: String,
    pub weeks: Counted,
    pub btn_pause: String,
    pub btn_back: String,
    pub btn_delete: String,
    pub delete_title: String,
    pub delete_text: String,
    pub btn_delete_confirm: String,
    pub withdrawn_done: String,
    pub paused_done: String,
    pub back_done: String,
    pub deleted: String,
    pub refused: String,
    pub moved: String,
    pub back_to_page: String,
    pub gone_title: String,
    pub gone: String,
    pub again_link: String,
    pub again_title: String,
    pub again_text: String,
    pub again_label: String,
    pub again_button: String,
    pub again_sent: String,
    pub again_invalid: String,
    pub pending_title: String,
    pub pending_text: String,
    pub btn_confirm_contact: String,
    pub btn_reject_contact: String,
    pub contact_confirmed: String,
    pub contact_rejected: String,
    pub btn_change: String,
    pub change_title: String,
    pub change_text: String,
    pub btn_save: String,
    pub change_done: String,
    pub verify_title: String,
    pub verify_text: String,
    pub verify_label: String,
    pub btn_verify: String,
    pub verified_done: String,
    pub verify_wrong: String,
    pub paused_unanswered: String,
}

/// The words of the pairing as it reaches people: the offer to a
/// volunteer, the introduction of both sides, the check-in and the
/// thank-you (emails), and the buttons on their own pages that answer
/// them. `{…}` are filled in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each is named for where it shows
pub struct PairingTexts {
    pub offer_subject: String,
    pub offer_text: String,
    pub offer_area: String,
    pub household: Counted,
    pub languages: String,
    pub offer_since: String,
    pub offer_no_details: String,
    pub offer_yes: String,
    pub offer_no: String,
    pub offer_time: Counted,
    pub intro_subject: String,
    pub intro_requester: String,
    pub reach: String,
    pub reach_email: String,
    pub reach_phone: String,
    pub reach_or: String,
    pub pay_self: String,
    pub pay_network: String,
    pub intro_volunteer: String,
    pub intro_area: String,
    pub intro_notes: String,
    pub volunteer_next: String,
    pub volunteer_next_network: String,
    pub cant_connect: String,
    pub checkin_subject: String,
    pub checkin_text: String,
    pub thanks_subject: String,
    pub thanks_text: String,
    pub offer_title: String,
    pub btn_yes: String,
    pub btn_not_this_time: String,
    pub accepted_done: String,
    pub refused_done: String,
    pub shopping_title: String,
    pub shopping_text: String,
    pub btn_cant_connect: String,
    pub volunteer_cant_connect_done: String,
    pub your_volunteer_title: String,
    pub your_volunteer_text: String,
    pub checkin_question: String,
    pub btn_got_it: String,
    pub btn_not_yet: String,
    pub got_it_done: String,
    pub not_yet_done: String,
    pub requester_cant_connect_done: String,
    pub offer_gone: String,
    pub answer_moved: String,
}

/// Words that change with a count ("1 day", "3 days"): one text for every
/// count (a string), or one per plural category of the language's own rule
/// (Unicode CLDR: `one` and `other` in English and Spanish; `zero`, `two`,
/// `few` and `many` where a language has them). A category left out reads
/// as `other`. `{n}` in the text is the count.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Counted {
    /// The same words for every count.
    Same(String),
    /// Words by plural category.
    ByCount(PluralForms),
}

/// The forms of [`Counted::ByCount`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each is a CLDR plural category
pub struct PluralForms {
    pub zero: Option<String>,
    pub one: Option<String>,
    pub two: Option<String>,
    pub few: Option<String>,
    pub many: Option<String>,
    pub other: String,
}

impl Counted {
    /// The words for `n` in language `lang` (a code like `en`), `{n}`
    /// filled in.
    pub fn of(&self, lang: &str, n: u64) -> String {
        let text = match self {
            Counted::Same(text) => text,
            Counted::ByCount(forms) => {
                use intl_pluralrules::PluralCategory as C;
                let form = match plural_category(lang, n) {
                    C::ZERO => &forms.zero,
                    C::ONE => &forms.one,
                    C::TWO => &forms.two,
                    C::FEW => &forms.few,
                    C::MANY => &forms.many,
                    C::OTHER => &None,
                };
                form.as_ref().unwrap_or(&forms.other)
            }
        };
        text.replace("{n}", &n.to_string())
    }
}

/// The plural category of `n` by the cardinal rule of language `lang`
/// (CLDR); for a language the rules do not know, English's.
fn plural_category(lang: &str, n: u64) -> intl_pluralrules::PluralCategory {
    use intl_pluralrules::{PluralCategory, PluralRuleType, PluralRules};
    let rules = lang
        .parse::<unic_langid::LanguageIdentifier>()
        .ok()
        .and_then(|id| PluralRules::create(id, PluralRuleType::CARDINAL).ok());
    match rules.and_then(|r| r.select(n).ok()) {
        Some(category) => category,
        None if n == 1 => PluralCategory::ONE,
        None => PluralCategory::OTHER,
    }
}

/// The summary of a digest posted to the organizers' Discord channel;
/// `{…}` are filled in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each is named for where it shows
pub struct DiscordTexts {
    /// The language these words are in (from the file's name; for the
    /// plural rule of [`Counted`]).
    #[serde(skip)]
    pub lang: String,
    pub heading: String,
    pub by_area: String,
    pub area: String,
    pub fewer_than_3: String,
    pub nothing_new: String,
    pub waiting: String,
    pub longest_days: Counted,
    pub nobody_waiting: String,
    pub closed: String,
    pub details: String,
    pub more_areas: Counted,
    pub other_area: String,
}

/// The words of the organizers' digest; `{…}` are filled in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each is named for where it shows
pub struct DigestTexts {
    /// The language these words are in (from the file's name; for the
    /// plural rule of [`Counted`]).
    #[serde(skip)]
    pub lang: String,
    pub subject: String,
    pub heading: String,
    pub first_heading: String,
    pub quiet: String,
    pub quiet_ever: String,
    pub totals: String,
    pub role_shopper: Counted,
    pub role_delivery: Counted,
    pub role_money: Counted,
    pub donations: Counted,
    pub self_report: String,
    pub counter_created: Counted,
    pub counter_updated: Counted,
    pub counter_unchanged: Counted,
    pub counter_rejected: Counted,
    pub counter_honeypot: Counted,
    pub counter_rate_limited: Counted,
    pub counter_unreadable: Counted,
    pub counter_discord_failed: Counted,
    pub counter_messages_sent: Counted,
    pub counter_messages_retried: Counted,
    pub counter_messages_given_up: Counted,
    pub counter_messages_waiting: Counted,
    pub deferred: Counted,
    pub attention: String,
    pub nobody_near: String,
    pub all_busy: String,
    pub pairings: String,
    pub pairing: String,
    pub no_shared_language: String,
    pub no_pairings: String,
    pub by_area: String,
    pub new: String,
    pub updated: String,
    pub may_repeat: String,
    pub changed: String,
    pub contact_changed: String,
    pub link_shared: String,
    pub link_same_name: String,
    pub maybe_same: String,
    pub two_names: String,
    pub two_names_line: String,
    pub maybe_same_line: String,
    pub records_ref: String,
    pub a_phone: String,
    pub an_email: String,
    pub unreadable_record: String,
    pub reach: String,
    pub prefers: String,
    pub roles: String,
    pub languages: String,
    pub availability: String,
    pub has_car: String,
    pub shops_for: String,
    pub household: String,
    pub notes: String,
    pub donation_interest: String,
    pub once: String,
    pub monthly: String,
    pub amount: String,
    pub message: String,
    pub csv_note: String,
    pub still_waiting: String,
    pub waiting_money_elsewhere: String,
    pub kind_delivery: String,
    pub kind_funding: String,
    pub waited: String,
    pub asked_again: String,
    pub network_pays: String,
    pub case_ref: String,
    pub pair_ref: String,
    pub volunteer_ref: String,
    pub matched: String,
    pub matched_with: String,
    pub funded_since: String,
    pub volunteer_gone: String,
    pub still_going: String,
    pub at_capacity: String,
    pub load: String,
    pub money: String,
    pub money_offered: String,
    pub actions: String,
    pub action_confirm: String,
    pub action_decline: String,
    pub action_close: String,
    pub action_fund: String,
    pub action_reopen: String,
    pub action_pause: String,
    pub action_keep: String,
    pub action_merge: String,
    pub action_erase_record: String,
    pub action_erase_volunteer: String,
    pub action_two_people: String,
    pub action_unmerge: String,
    pub action_unmerge_erased: String,
    pub person_withdrew: String,
    pub person_paused: String,
    pub person_back: String,
    pub mail_unsubscribed: String,
    pub mail_refused: String,
    pub mail_not_me: String,
    pub email_changed_by_form: String,
    pub contact_confirmed: String,
    pub contact_dropped: String,
    pub identity_clash: String,
    pub details_changed: String,
    pub pending_contact: String,
    pub no_email: String,
    pub verified: String,
    pub more: String,
    pub days: Counted,
    pub people: Counted,
    pub btn_confirm: String,
    pub btn_decline: String,
    pub btn_accept: String,
    pub btn_refuse: String,
    pub page_accept: String,
    pub page_refuse: String,
    pub state_offered: String,
    pub offered: String,
    pub offered_by_email: String,
    pub offered_call: String,
    pub offered_undelivered: String,
    pub answer_commands: String,
    pub flagged: String,
    pub flag_cant_connect: String,
    pub flag_not_yet: String,
    pub call_requester: String,
    pub call_volunteer: String,
    pub action_accept: String,
    pub action_refuse: String,
    pub action_no_answer: String,
    pub action_cant_connect_volunteer: String,
    pub action_cant_connect_requester: String,
    pub action_got_it: String,
    pub action_not_yet: String,
    pub paused_unanswered: String,
    pub btn_close: String,
    pub btn_done: String,
    pub btn_keep: String,
    pub btn_fund: String,
    pub btn_pause: String,
    pub btn_reopen: String,
    pub btn_merge: String,
    pub btn_two_people: String,
    pub btn_unmerge: String,
    pub page_confirm: String,
    pub page_decline: String,
    pub page_close: String,
    pub page_done: String,
    pub page_fund: String,
    pub page_reopen: String,
    pub page_keep: String,
    pub page_pause: String,
    pub page_merge: String,
    pub page_two_people: String,
    pub page_unmerge: String,
    pub page_record: String,
    pub page_merge_note: String,
    pub page_case: String,
    pub page_volunteer: String,
    pub page_note: String,
    pub page_acted: String,
    pub page_acted_text: String,
    pub page_refused: String,
    pub page_unusable: String,
    pub link_altered: String,
    pub link_expired: String,
    pub link_unknown_key: String,
    pub refused_moved: String,
    pub refused_capacity: String,
    pub refused_no_case: String,
    pub refused_no_volunteer: String,
    pub refused_already_open: String,
    pub refused_other: String,
    pub refused_no_record: String,
    pub refused_merged: String,
    pub refused_not_linked: String,
    pub refused_standing_moved: String,
    pub refused_not_merged: String,
    pub refused_merge_volunteer: String,
    pub state_open: String,
    pub state_matched: String,
    pub state_funded: String,
    pub state_closed: String,
    /// The summary posted to Discord (no personal data).
    pub discord: DiscordTexts,
}

/// Words used around the pages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // each is named for where it shows
pub struct Ui {
    pub skip_link: String,
    pub nav_label: String,
    pub language_label: String,
    pub footer_privacy: String,
    pub footer_contact: String,
    pub required: String,
    pub optional: String,
    pub error_summary_title: String,
    pub error_title_prefix: String,
    pub home_lead: String,
    pub give_now: String,
    pub cta_label: String,
    pub unavailable_title: String,
    pub unavailable_text: String,
    pub too_many_title: String,
    pub too_many_text: String,
    pub cross_site_title: String,
    pub cross_site_text: String,
    pub cross_site_link: String,
    pub too_large_title: String,
    pub too_large_text: String,
    pub malformed_title: String,
    pub malformed_text: String,
}

/// The texts of one form.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FormTexts {
    /// The submit button.
    pub submit: Option<String>,
    /// Headings of the form's parts, by group key.
    #[serde(default)]
    pub groups: BTreeMap<String, String>,
    /// A sentence under a part's heading that every field of the part
    /// refers to (`aria-describedby`), by group key: what a person must
    /// know before they start it ("an email or a phone, at least one").
    #[serde(default)]
    pub group_notes: BTreeMap<String, String>,
    /// Field texts by wire name.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldTexts>,
}

/// The texts of one field.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTexts {
    /// The label (or legend, for a group of choices).
    pub label: Option<String>,
    /// Help shown under the label.
    pub hint: Option<String>,
    /// Labels of the choices, by option value.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Messages by error code; `{max}` and `{min}` are filled in from the contract.
    #[serde(default)]
    pub errors: BTreeMap<String, String>,
}

impl Strings {
    /// The texts of a form; empty if content lacks them (`check` reports that).
    pub fn form(&self, form: FormId) -> &FormTexts {
        static EMPTY: std::sync::OnceLock<FormTexts> = std::sync::OnceLock::new();
        self.forms
            .get(form.key())
            .unwrap_or_else(|| EMPTY.get_or_init(FormTexts::default))
    }

    /// The message for a field's error code, with `{min}`/`{max}` filled in.
    pub fn error_message(&self, form: FormId, field: &Field, code: &str) -> String {
        let template = self
            .form(form)
            .fields
            .get(field.name)
            .and_then(|f| f.errors.get(code))
            .map(String::as_str)
            .unwrap_or(code);
        let (min, max) = match (field.range, field.max_len) {
            (Some((min, max)), _) => (min, max),
            (None, Some(max)) => (0, max),
            (None, None) => (0, 0),
        };
        template
            .replace("{max}", &max.to_string())
            .replace("{min}", &min.to_string())
    }
}

/// The line of the most specific `[table]` header that exists in `source`,
/// trying `tables` in order; 1 if none does.
fn table_line(source: &str, tables: &[String]) -> usize {
    tables
        .iter()
        .find_map(|t| {
            let header = format!("[{t}]");
            source
                .lines()
                .position(|l| l.trim() == header)
                .map(|i| i + 1)
        })
        .unwrap_or(1)
}

/// Checks that `strings` (from `file`, whose text is `source`) has a text for
/// everything the contract can show, and nothing the contract does not know.
pub fn check_against_contract(file: &str, source: &str, strings: &Strings) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // (tables, most specific first; the key; what it is)
    let mut absent: Vec<(Vec<String>, String, String)> = Vec::new();
    let mut missing = |tables: Vec<String>, key: String, what: &str| {
        absent.push((tables, key, what.to_owned()));
    };
    for form in FormId::ALL {
        let f = form.key();
        let texts = strings.form(form);
        if texts.submit.is_none() {
            missing(vec![format!("forms.{f}")], "submit".into(), "submit button");
        }
        for group in form.groups() {
            if !texts.groups.contains_key(*group) {
                missing(
                    vec![format!("forms.{f}.groups"), format!("forms.{f}")],
                    (*group).into(),
                    "heading of a part of the form",
                );
            }
        }
        for field in form.fields().iter().filter(|f| f.kind != Kind::Hidden) {
            let name = field.name;
            let table = format!("forms.{f}.fields.{name}");
            let parents = |sub: &str| {
                let mut t = vec![format!("{table}.{sub}"), table.clone()];
                t.retain(|x| !x.ends_with('.'));
                t.push(format!("forms.{f}"));
                t
            };
            let ft = texts.fields.get(name);
            if ft.and_then(|t| t.label.as_ref()).is_none() {
                missing(parents(""), "label".into(), &format!("label of `{name}`"));
            }
            for option in field.options {
                if !ft.is_some_and(|t| t.options.contains_key(*option)) {
                    missing(
                        parents("options"),
                        (*option).into(),
                        &format!("label of the choice `{option}` of `{name}`"),
                    );
                }
            }
            for code in field.errors {
                if !ft.is_some_and(|t| t.errors.contains_key(*code)) {
                    missing(
                        parents("errors"),
                        (*code).into(),
                        &format!("message for the error `{code}` of `{name}`"),
                    );
                }
            }
        }
        for (name, ft) in &texts.fields {
            let table = format!("forms.{f}.fields.{name}");
            let Some(field) = form.field(name) else {
                out.push(Diagnostic::new(
                    file,
                    table_line(source, std::slice::from_ref(&table)),
                    format!("[{table}]: the {f} form has no field `{name}`"),
                    format!(
                        "the fields are: {}",
                        form.fields()
                            .iter()
                            .map(|f| f.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                continue;
            };
            for option in ft
                .options
                .keys()
                .filter(|o| !field.options.contains(&o.as_str()))
            {
                out.push(Diagnostic::new(
                    file,
                    table_line(source, &[format!("{table}.options")]),
                    format!("`{option}` is not a choice of `{name}`"),
                    format!("the choices are: {}", field.options.join(", ")),
                ));
            }
            for code in ft
                .errors
                .keys()
                .filter(|c| !field.errors.contains(&c.as_str()))
            {
                out.push(Diagnostic::new(
                    file,
                    table_line(source, &[format!("{table}.errors")]),
                    format!("`{name}` never has the error `{code}`"),
                    format!("its error codes are: {}", field.errors.join(", ")),
                ));
            }
        }
    }
    for (tables, key, what) in absent {
        let table = &tables[0];
        out.push(Diagnostic::new(
            file,
            table_line(source, &tables),
            format!("missing `{key}` under [{table}]: the {what}"),
            format!("add `{key} = \"…\"` under [{table}]; every language needs every label and message (compare with the other i18n files)"),
        ));
    }
    if strings.messages.months.len() != 12 {
        out.push(Diagnostic::new(
            file,
            table_line(source, &["messages".to_owned()]),
            format!(
                "`months` under [messages] has {} names, not 12",
                strings.messages.months.len()
            ),
            "write the twelve month names, January first, as they appear in a date",
        ));
    }
    for key in strings
        .forms
        .keys()
        .filter(|k| FormId::from_key(k).is_none())
    {
        out.push(Diagnostic::new(
            file,
            table_line(source, &[format!("forms.{key}")]),
            format!("there is no form `{key}`"),
            "the forms are `signup` and `donate`",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(toml_text: &str) -> Counted {
        #[derive(Deserialize)]
        struct One {
            c: Counted,
        }
        toml::from_str::<One>(toml_text).expect("counted").c
    }

    #[test]
    fn counts_take_their_words_by_each_languages_own_rule() {
        let days = counted(r#"c = { one = "{n} day", other = "{n} days" }"#);
        assert_eq!(days.of("en", 1), "1 day");
        assert_eq!(days.of("en", 0), "0 days");
        assert_eq!(days.of("en", 3), "3 days");
        assert_eq!(days.of("es", 1), "1 day");
        // French counts 0 as one; a language the rules do not know reads as English.
        assert_eq!(days.of("fr", 0), "0 day");
        assert_eq!(days.of("xx", 1), "1 day");
        // Arabic has six categories: those given are used, the rest read as `other`.
        let ar = counted(
            r#"c = { zero = "لا أيام", one = "يوم واحد", two = "يومان", few = "{n} أيام", other = "{n} يوم" }"#,
        );
        assert_eq!(ar.of("ar", 0), "لا أيام");
        assert_eq!(ar.of("ar", 2), "يومان");
        assert_eq!(ar.of("ar", 5), "5 أيام");
        assert_eq!(ar.of("ar", 11), "11 يوم", "many, not given: other");
        // One text for every count.
        assert_eq!(counted(r#"c = "new""#).of("en", 1), "new");
    }
}
