//! Two records of one person made one by an organizer, on both stores: a
//! person who signed up twice (another spelling, another email, a form sent
//! by family) is shown once, waiting since their first ask; their match
//! moves with them and the volunteer's load stays true; what they send
//! later still reaches the organizers; a mistaken merge is undone (its
//! standing and requests given back), and deleting the kept record gives the
//! merged one its requests back first. And the races: a merge against a confirmation, two opposite
//! merges, a merge against the person sending the form again, a merge
//! against a pause.

use mutualaid_handler::cases::{self, Act, Refusal};
use mutualaid_handler::domain::{self, Accepted};
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::{
    ActionKind, Case, CaseAction, CaseKind, CaseState, CloseReason, Standing, StoreError,
    Submission,
};

use crate::cases::{DAY, Org, section};
use crate::digest::NOON;
use crate::store_contract::{KEEP, person};

/// Rosa signs up on day 1 for groceries and money; on day 3 her daughter
/// sends the form for her as "Rosa M." with Rosa's phone and her own email.
async fn rosa_twice<S: Store>(org: &Org<S>, tag: &str) -> (Accepted, Accepted) {
    let phone = phone_of(tag);
    let first = org
        .sign_up(
            &person(
                &format!("Rosa Martinez {tag}"),
                None,
                Some(&phone),
                "92105",
                &["delivery", "money"],
            ),
            NOON - DAY,
        )
        .await;
    let second = org
        .sign_up(
            &person(
                &format!("Rosa M {tag}"),
                Some(&format!("daughter.{tag}@example.org")),
                Some(&phone),
                "92105",
                &["delivery"],
            ),
            NOON + DAY,
        )
        .await;
    assert!(second.person_id != first.person_id, "two records, linked");
    (first, second)
}

/// Her phone: one per tag.
fn phone_of(tag: &str) -> String {
    let n = tag
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("+1619555{:04}", n % 10_000)
}

async fn merge<S: Store>(org: &Org<S>, from: &str, into: &str, at: i64) -> Result<(), Refusal> {
    cases::merge(
        &org.store,
        from,
        into,
        at,
        mutualaid_handler::store::Actor::Cli,
        None,
    )
    .await
    .expect("the store answers")
    .map(drop)
}

async fn active<S: Store>(org: &Org<S>, ids: &[&str], kind: CaseKind) -> Vec<Case> {
    let mut out = Vec::new();
    for id in ids {
        out.extend(
            org.store
                .cases_of(id)
                .await
                .expect("cases")
                .into_iter()
                .filter(|c| c.kind == kind && c.state.is_active()),
        );
    }
    out
}

async fn one_person_twice<S: Store>(store: S) {
    let mut org = Org::new(store, 1);
    let (rosa, daughter) = rosa_twice(&org, "a").await;
    let day_2 = org.digest(NOON + DAY + 600).await;
    assert_eq!(
        section(&day_2, "Still waiting").matches("Rosa M").count(),
        2,
        "before the merge she waits twice: {day_2}"
    );
    // Refused: a record into itself, a stranger who shares nothing.
    let stranger = org
        .sign_up(
            &person(
                "Sara Stranger",
                Some("someone.else@example.org"),
                None,
                "92105",
                &["delivery"],
            ),
            NOON + DAY + 60,
        )
        .await;
    assert_eq!(
        merge(
            &org,
            &daughter.person_id,
            &daughter.person_id,
            NOON + 2 * DAY
        )
        .await,
        Err(Refusal::AlreadyMerged)
    );
    assert_eq!(
        merge(&org, &stranger.person_id, &rosa.person_id, NOON + 2 * DAY).await,
        Err(Refusal::NotLinked)
    );
    // Merged the other way round from how they came: the newer record kept.
    merge(&org, &rosa.person_id, &daughter.person_id, NOON + 2 * DAY)
        .await
        .expect("merged");
    let ids = [rosa.person_id.as_str(), daughter.person_id.as_str()];
    let delivery = active(&org, &ids, CaseKind::Delivery).await;
    assert_eq!(delivery.len(), 1, "{delivery:?}");
    assert_eq!(delivery[0].person_id, daughter.person_id);
    assert_eq!(
        delivery[0].opened_at,
        NOON - DAY,
        "she waits since her first ask"
    );
    let funding = active(&org, &ids, CaseKind::Funding).await;
    assert_eq!(
        funding.len(),
        1,
        "the money request carried on: {funding:?}"
    );
    assert_eq!(
        (funding[0].person_id.as_str(), funding[0].opened_at),
        (daughter.person_id.as_str(), NOON - DAY)
    );
    let closed: Vec<Case> = org
        .store
        .cases_of(&rosa.person_id)
        .await
        .expect("cases")
        .into_iter()
        .filter(|c| c.closed.map(|(_, why)| why) == Some(CloseReason::Merged))
        .collect();
    assert_eq!(
        closed.len(),
        2,
        "both of the first record's cases closed as merged"
    );
    // A replayed merge changes nothing.
    assert_eq!(
        merge(
            &org,
            &rosa.person_id,
            &daughter.person_id,
            NOON + 2 * DAY + 1
        )
        .await,
        Err(Refusal::AlreadyMerged)
    );
    let day_3 = org.digest(NOON + 2 * DAY + 600).await;
    let waiting = section(&day_3, "Still waiting");
    assert_eq!(waiting.matches("Rosa M").count(), 1, "{day_3}");
    assert!(
        waiting.contains("Rosa M a (92105 City Heights) — groceries delivered, waiting 3 days"),
        "{day_3}"
    );
    assert!(
        section(&day_3, "What was done since the last digest")
            .contains("merged the record of Rosa Martinez a into that of Rosa M a"),
        "{day_3}"
    );

    // Her match moves with her and the volunteer's load stays true (cap 1).
    let vic = org
        .sign_up(
            &person(
                "Vic Near",
                Some("vic.m@example.org"),
                None,
                "92105",
                &["shopper"],
            ),
            NOON + 2 * DAY + 700,
        )
        .await;
    let (ana, ana_again) = rosa_twice(&org, "bb").await;
    let first = org.case_of(&ana, CaseKind::Delivery).await;
    let offered = org
        .act(
            &first,
            Act::Confirm {
                volunteer: vic.person_id.clone(),
            },
            NOON + 3 * DAY,
        )
        .await
        .expect("confirmed");
    org.act(&offered, Act::Accept, NOON + 3 * DAY + 1)
        .await
        .expect("accepted");
    merge(
        &org,
        &ana.person_id,
        &ana_again.person_id,
        NOON + 3 * DAY + 60,
    )
    .await
    .expect("merged");
    let kept = org.case_of(&ana_again, CaseKind::Delivery).await;
    assert_eq!(
        (kept.state, kept.volunteer_id.as_deref()),
        (CaseState::Matched, Some(vic.person_id.as_str())),
        "the kept case took on the match"
    );
    assert_eq!(
        cases::load(&org.store, &vic.person_id).await.expect("load"),
        1
    );
    let other = org
        .sign_up(
            &person(
                "Otto Asks",
                Some("otto.m@example.org"),
                None,
                "92105",
                &["delivery"],
            ),
            NOON + 3 * DAY + 100,
        )
        .await;
    let otto = org.case_of(&other, CaseKind::Delivery).await;
    assert!(
        matches!(
            org.act(
                &otto,
                Act::Confirm {
                    volunteer: vic.person_id.clone()
                },
                NOON + 3 * DAY + 200
            )
            .await,
            Err(Refusal::AtCapacity { load: 1, cap: 1 })
        ),
        "Vic still holds one person after the merge"
    );
    org.act(&kept, Act::Close(CloseReason::Done), NOON + 3 * DAY + 300)
        .await
        .expect("closed");
    org.act(
        &org.case_of(&other, CaseKind::Delivery).await,
        Act::Confirm {
            volunteer: vic.person_id.clone(),
        },
        NOON + 3 * DAY + 400,
    )
    .await
    .expect("Vic is free again: the store's count of his load went down");

    // A merged record is never offered as a volunteer; what it sends later
    // still opens a case, shown under its own name.
    let (lu, lu_again) = rosa_twice(&org, "ccc").await;
    merge(&org, &lu.person_id, &lu_again.person_id, NOON + 4 * DAY)
        .await
        .expect("merged");
    domain::accept(
        &org.store,
        Submission::Signup(person(
            "Rosa Martinez ccc",
            None,
            Some(&phone_of("ccc")),
            "92105",
            &["delivery"],
        )),
        NOON + 4 * DAY + 60,
        KEEP,
    )
    .await
    .expect("accepted");
    let again = active(&org, &[lu.person_id.as_str()], CaseKind::Delivery).await;
    assert_eq!(
        again.len(),
        1,
        "asked again after the merge: a case of her own"
    );
    assert!(again[0].asked_again_after.is_some());
    // Undo: reopening what the merge closed brings the case back.
    let funding_closed = org
        .store
        .cases_of(&lu.person_id)
        .await
        .expect("cases")
        .into_iter()
        .find(|c| c.kind == CaseKind::Funding)
        .expect("the closed funding case");
    let reopened = org
        .act(&funding_closed, Act::Reopen, NOON + 4 * DAY + 120)
        .await
        .expect("reopened");
    assert_eq!(reopened.state, CaseState::Open);
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    one_person_twice =>
    sqlite_one_person_twice_is_merged,
    dynamodb_one_person_twice_is_merged
);

async fn merges_race<S: Store + Clone>(store: S) {
    let org = Org::new(store, 3);
    for round in 0..4 {
        let tag = "r".repeat(round + 1);
        let vic = org
            .sign_up(
                &person(
                    &format!("Vic Race {tag}"),
                    Some(&format!("vic.{tag}@example.org")),
                    None,
                    "92105",
                    &["shopper"],
                ),
                NOON,
            )
            .await;
        // A merge against a confirmation of the merged record's case.
        let (first, second) = rosa_twice(&org, &format!("{tag}x")).await;
        let case = org.case_of(&first, CaseKind::Delivery).await;
        let (merged, confirmed) = tokio::join!(
            merge(&org, &first.person_id, &second.person_id, NOON + 2 * DAY),
            org.act(
                &case,
                Act::Confirm {
                    volunteer: vic.person_id.clone()
                },
                NOON + 2 * DAY
            ),
        );
        merged.expect("a merge reads again and goes on");
        let ids = [first.person_id.as_str(), second.person_id.as_str()];
        let delivery = active(&org, &ids, CaseKind::Delivery).await;
        assert_eq!(delivery.len(), 1, "one request, never none: {delivery:?}");
        assert_eq!(delivery[0].person_id, second.person_id);
        assert_eq!(delivery[0].opened_at, NOON - DAY);
        let confirmed_ok = confirmed.is_ok();
        match confirmed {
            Ok(_) => assert_eq!(delivery[0].state, CaseState::Offered, "the offer moved"),
            Err(Refusal::Moved { .. }) => assert_eq!(delivery[0].state, CaseState::Open),
            other => panic!("{other:?}"),
        }
        // Two organizers merge the same pair, each the other way: one wins.
        let (a, b) = rosa_twice(&org, &format!("{tag}y")).await;
        let (ab, ba) = tokio::join!(
            merge(&org, &a.person_id, &b.person_id, NOON + 2 * DAY),
            merge(&org, &b.person_id, &a.person_id, NOON + 2 * DAY),
        );
        assert_eq!(
            usize::from(ab.is_ok()) + usize::from(ba.is_ok()),
            1,
            "{ab:?} {ba:?}"
        );
        let ids = [a.person_id.as_str(), b.person_id.as_str()];
        for kind in [CaseKind::Delivery, CaseKind::Funding] {
            assert_eq!(active(&org, &ids, kind).await.len(), 1, "{kind:?}");
        }
        // A merge while the person sends the form again: nobody is lost.
        let (c, d) = rosa_twice(&org, &format!("{tag}z")).await;
        let resend = Submission::Signup(person(
            &format!("Rosa Martinez {tag}z"),
            None,
            Some(&phone_of(&format!("{tag}z"))),
            "92105",
            &["delivery"],
        ));
        let (merged, sent) = tokio::join!(
            merge(&org, &c.person_id, &d.person_id, NOON + 2 * DAY),
            domain::accept(&org.store, resend, NOON + 2 * DAY, KEEP),
        );
        merged.expect("merged");
        assert_eq!(sent.expect("accepted").person_id, c.person_id);
        let ids = [c.person_id.as_str(), d.person_id.as_str()];
        let delivery = active(&org, &ids, CaseKind::Delivery).await;
        assert!(
            delivery.iter().any(|x| x.person_id == d.person_id),
            "the request carried on: {delivery:?}"
        );
        assert_eq!(
            cases::load(&org.store, &vic.person_id).await.expect("load"),
            usize::from(confirmed_ok),
            "the volunteer's load counts the match once, or not at all"
        );
    }
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    merges_race =>
    sqlite_merges_race_with_confirmations_merges_and_submissions,
    dynamodb_merges_race_with_confirmations_merges_and_submissions
);

/// Where a record stands: merged into which, if any.
async fn merged_into<S: Store>(org: &Org<S>, id: &str) -> Option<String> {
    org.store
        .standings()
        .await
        .expect("standings")
        .into_iter()
        .find(|s| s.person_id == id)
        .and_then(|s| s.merged_into)
}

/// Vicente volunteers twice (two spellings, one email); an organizer merges
/// the records while another pauses the one merged away. The merge mark
/// stays whichever lands first, so that record is never offered again.
async fn a_pause_never_unmerges<S: Store + Clone>(store: S) {
    let org = Org::new(store, 3);
    let vicente = |name: &str, tag: &str| {
        person(
            &format!("{name} {tag}"),
            Some(&format!("vicente.{tag}@example.org")),
            None,
            "92105",
            &["shopper"],
        )
    };
    let first = org.sign_up(&vicente("Vicente Paz", "a"), NOON - DAY).await;
    let second = org.sign_up(&vicente("Vic Paz", "a"), NOON).await;
    assert!(first.person_id != second.person_id, "two records, linked");
    let record = org
        .store
        .person(&first.person_id)
        .await
        .expect("read")
        .expect("there");
    // A pause decided on what an organizer read before the merge, landing after it.
    let stale = Standing {
        person_id: first.person_id.clone(),
        paused_until: Some(NOON + 8 * DAY),
        version: 1,
        changed_at: NOON + DAY,
        expires_at: record.expires_at,
        ..Standing::default()
    };
    let action = CaseAction {
        id: "pause-after-merge".into(),
        at: NOON + DAY,
        kind: ActionKind::Pause,
        case_id: None,
        volunteer_id: Some(first.person_id.clone()),
        by: mutualaid_handler::store::Actor::Cli,
        detail: "7".into(),
        version: 0,
        merged: None,
        expires_at: record.expires_at,
    };
    merge(&org, &first.person_id, &second.person_id, NOON + DAY)
        .await
        .expect("merged");
    let written = org
        .store
        .carry_out(&mutualaid_handler::store::plan::standing(&stale, &action))
        .await;
    assert!(
        matches!(written, Err(StoreError::Conflict)),
        "a stale pause is refused: {written:?}"
    );
    assert_eq!(
        merged_into(&org, &first.person_id).await,
        Some(second.person_id.clone())
    );
    let paused = cases::pause(
        &org.store,
        &first.person_id,
        7,
        NOON + DAY,
        mutualaid_handler::store::Actor::Cli,
        None,
    )
    .await
    .expect("the store answers");
    assert!(matches!(paused, Err(Refusal::NoVolunteer)), "{paused:?}");
    // At once, a fresh pair each round.
    for tag in ["b", "c", "d", "e"] {
        let a = org.sign_up(&vicente("Vicente Paz", tag), NOON - DAY).await;
        let b = org.sign_up(&vicente("Vic Paz", tag), NOON).await;
        let (merged, paused) = tokio::join!(
            merge(&org, &a.person_id, &b.person_id, NOON + DAY),
            cases::pause(
                &org.store,
                &a.person_id,
                7,
                NOON + DAY,
                mutualaid_handler::store::Actor::Cli,
                None
            ),
        );
        merged.expect("merged");
        let paused = paused.expect("the store answers");
        assert!(
            matches!(paused, Ok(_) | Err(Refusal::NoVolunteer)),
            "{paused:?}"
        );
        assert_eq!(
            merged_into(&org, &a.person_id).await,
            Some(b.person_id.clone()),
            "round {tag}: the merge mark stays"
        );
    }
}

mutualaid_tests::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_pause_never_unmerges =>
    sqlite_a_pause_never_unmerges_a_merged_record,
    dynamodb_a_pause_never_unmerges_a_merged_record
);

/// A volunteer whose standing row no longer reads (a damaged row) can still
/// be paused and unpaused: the pause writes it anew.
#[tokio::test]
async fn sqlite_a_volunteer_whose_standing_does_not_read_can_still_be_paused() {
    let (dir, store) = mutualaid_tests::stores::sqlite();
    let org = Org::new(store, 3);
    let vic = person(
        "Vic Damaged",
        Some("vic.damaged@example.org"),
        None,
        "92105",
        &["shopper"],
    );
    let vic = org.sign_up(&vic, NOON).await;
    let pause = |days| {
        cases::pause(
            &org.store,
            &vic.person_id,
            days,
            NOON,
            mutualaid_handler::store::Actor::Cli,
            None,
        )
    };
    pause(7).await.expect("the store answers").expect("paused");
    rusqlite::Connection::open(dir.path().join("db.sqlite3"))
        .expect("open")
        .execute(
            "UPDATE volunteers SET record = 'garbage' WHERE person_id = ?1",
            [&vic.person_id],
        )
        .expect("damage");
    let unpaused = pause(0).await.expect("the store answers");
    assert!(unpaused.is_ok(), "{unpaused:?}");
}

/// Jose asks for groceries on day 1; Maria, who volunteers, gives the same
/// phone on day 2; an organizer merges Jose into Maria.
async fn jose_merged_into_maria<S: Store>(
    org: &Org<S>,
    jose_roles: &[&str],
) -> (Accepted, Accepted) {
    let phone = Some("+16195550188");
    let jose = org
        .sign_up(
            &person("Jose Perez", None, phone, "92105", jose_roles),
            NOON - 3 * DAY,
        )
        .await;
    let maria = org
        .sign_up(
            &person(
                "Maria Perez",
                Some("maria.perez@example.org"),
                phone,
                "92105",
                &["shopper"],
            ),
            NOON - 2 * DAY,
        )
        .await;
    merge(org, &jose.person_id, &maria.person_id, NOON - DAY)
        .await
        .expect("merged");
    (jose, maria)
}

async fn merged_into_standing<S: Store>(org: &Org<S>, id: &str) -> Option<String> {
    org.store
        .standings()
        .await
        .expect("standings")
        .into_iter()
        .find(|s| s.person_id == id)
        .and_then(|s| s.merged_into)
}

/// Issue 23, part 4: Maria asks to be deleted. Jose, merged into her, waits
/// again under his own record, since his first ask; the next digest says so
/// without naming her.
async fn erasing_the_kept_record_gives_the_merged_one_its_requests_back<S: Store>(store: S) {
    let mut org = Org::new(store, 3);
    let (jose, maria) = jose_merged_into_maria(&org, &["delivery"]).await;
    let carried = active(&org, &[&maria.person_id], CaseKind::Delivery).await;
    assert_eq!(carried.len(), 1, "Maria's record carries Jose's request");
    assert!(
        active(&org, &[&jose.person_id], CaseKind::Delivery)
            .await
            .is_empty()
    );

    mutualaid_handler::erase::erase(&org.store, &maria.person_id, NOON - 600, NOON + 30 * DAY)
        .await
        .expect("erased");
    assert!(
        org.store
            .person(&maria.person_id)
            .await
            .expect("read")
            .is_none()
    );
    let waiting = active(&org, &[&jose.person_id], CaseKind::Delivery).await;
    assert_eq!(waiting.len(), 1, "Jose waits again");
    assert_eq!(waiting[0].state, CaseState::Open);
    assert_eq!(waiting[0].opened_at, NOON - 3 * DAY, "since his first ask");
    assert_eq!(merged_into_standing(&org, &jose.person_id).await, None);

    let day = org.digest(NOON).await;
    assert!(
        section(&day, "Still waiting")
            .contains("Jose Perez (92105 City Heights) — groceries delivered, waiting 3 days"),
        "{day}"
    );
    let did = section(&day, "What was done since the last digest");
    assert!(
        did.contains("Jose Perez was merged into a record deleted at its person's request"),
        "{day}"
    );
    assert!(
        !day.contains("Maria"),
        "the deleted person is not named: {day}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    erasing_the_kept_record_gives_the_merged_one_its_requests_back =>
    sqlite_erasing_the_kept_record_gives_the_merged_one_its_requests_back,
    dynamodb_erasing_the_kept_record_gives_the_merged_one_its_requests_back
);

/// Issue 23, part 4: a real unmerge. Jose volunteers and asks for money,
/// which the network funds; merged into Maria, he is offered to nobody and
/// Maria's record carries his funded request. Undone, he is a volunteer
/// again (offered to Rita), his request his own again — funded, since day
/// 1 — and Maria's carrying case is closed; a second undo is refused.
async fn an_unmerge_gives_back_the_standing_and_the_requests<S: Store>(store: S) {
    let mut org = Org::new(store, 3);
    let phone = Some("+16195550189");
    let jose = org
        .sign_up(
            &person("Jose Perez", None, phone, "92105", &["shopper", "money"]),
            NOON - 3 * DAY,
        )
        .await;
    let funding = org.case_of(&jose, CaseKind::Funding).await;
    org.act(&funding, Act::Fund, NOON - 3 * DAY + 60)
        .await
        .expect("funded");
    let maria = org
        .sign_up(
            &person(
                "Maria Perez",
                Some("maria.p@example.org"),
                phone,
                "92105",
                &["delivery"],
            ),
            NOON - 2 * DAY,
        )
        .await;
    merge(&org, &jose.person_id, &maria.person_id, NOON - DAY)
        .await
        .expect("merged");
    let rita = person(
        "Rita Lopez",
        Some("rita.l@example.org"),
        None,
        "92105",
        &["delivery"],
    );
    org.sign_up(&rita, NOON - DAY + 100).await;
    let carried = active(&org, &[&maria.person_id], CaseKind::Funding).await;
    assert_eq!(
        (carried.len(), carried[0].state, carried[0].opened_at),
        (1, CaseState::Funded, NOON - 3 * DAY),
        "Maria's record carries his funded request"
    );
    let day_1 = org.digest(NOON).await;
    assert!(
        !section(&day_1, "Suggested today").contains("Jose Perez"),
        "merged: offered to nobody: {day_1}"
    );

    let undone = cases::unmerge(
        &org.store,
        &jose.person_id,
        NOON + 100,
        mutualaid_handler::store::Actor::Cli,
        None,
    )
    .await
    .expect("the store answers")
    .expect("undone");
    assert_eq!(undone.into, maria.person_id);
    assert_eq!(merged_into_standing(&org, &jose.person_id).await, None);
    let own = active(&org, &[&jose.person_id], CaseKind::Funding).await;
    assert_eq!(own.len(), 1, "his request is his own again");
    assert_eq!(
        (own[0].state, own[0].opened_at),
        (CaseState::Funded, NOON - 3 * DAY),
        "funded, since day 1: the funding moved back with it"
    );
    assert!(
        active(&org, &[&maria.person_id], CaseKind::Funding)
            .await
            .is_empty(),
        "Maria's record no longer carries it"
    );
    let again = cases::unmerge(
        &org.store,
        &jose.person_id,
        NOON + 200,
        mutualaid_handler::store::Actor::Cli,
        None,
    )
    .await
    .expect("the store answers");
    assert_eq!(again, Err(Refusal::NotMerged));
    let day_2 = org.digest(NOON + DAY).await;
    assert!(
        section(&day_2, "Suggested today").contains("— Jose Perez (92105 City Heights)"),
        "a volunteer who can be offered again: {day_2}"
    );
    assert!(
        section(&day_2, "What was done since the last digest")
            .contains("undid the merge of Jose Perez into Maria Perez"),
        "{day_2}"
    );
}

mutualaid_tests::on_both_stores!(
    #[tokio::test]
    an_unmerge_gives_back_the_standing_and_the_requests =>
    sqlite_an_unmerge_gives_back_the_standing_and_the_requests,
    dynamodb_an_unmerge_gives_back_the_standing_and_the_requests
);
