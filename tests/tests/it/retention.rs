//! Issue 23, part 5: a request stays open until an organizer closes it, so
//! retention never deletes a person who is still waiting. A record expires
//! `retention_days` after the latest of its last submission and its last
//! case change: SQLite's purge asks exactly that; on DynamoDB a case change
//! moves the record's expiry, and each digest run keeps everyone still
//! waiting, and every volunteer shopping for one (their TTL in the future).

use mutualaid_handler::cases::{self, Act};
use mutualaid_handler::domain::{self, Accepted};
use mutualaid_handler::store::roles::*;
use mutualaid_handler::store::{CaseKind, CloseReason, Submission};
use mutualaid_tests::person;

use crate::store_contract::KEEP;

const DAY: i64 = 86_400;
const T0: i64 = 1_790_000_000;

async fn sign_up<S: Store>(store: &S, name: &str, phone: &str, roles: &[&str]) -> Accepted {
    let s = person(name, None, Some(phone), "92105", roles);
    domain::accept(store, Submission::Signup(s), T0, KEEP)
        .await
        .expect("accepted")
}

/// Closes `who`'s delivery case at `at`.
async fn close<S: Store>(store: &S, who: &Accepted, at: i64) {
    let case = store.cases_of(&who.person_id).await.expect("cases")[0].clone();
    assert_eq!(case.kind, CaseKind::Delivery);
    cases::act(
        store,
        &case.id,
        None,
        Act::Close(CloseReason::Done),
        at,
        3,
        mutualaid_handler::store::Actor::Cli,
    )
    .await
    .expect("store")
    .expect("closed");
}

/// Ana waits, Bea's request closed on day 5, Cruz only volunteers, Dana
/// shops for Ana (matched on day 2): she is kept while the match goes on.
async fn three<S: Store>(store: &S) -> (Accepted, Accepted, Accepted, Accepted) {
    let ana = sign_up(store, "Ana Espera", "619 555 0161", &["delivery"]).await;
    let bea = sign_up(store, "Bea Cerrada", "619 555 0162", &["delivery"]).await;
    let cruz = sign_up(store, "Cruz Shopper", "619 555 0163", &["shopper"]).await;
    let dana = sign_up(store, "Dana Shopper", "619 555 0164", &["shopper"]).await;
    close(store, &bea, T0 + 5 * DAY).await;
    let case = store.cases_of(&ana.person_id).await.expect("cases")[0].clone();
    mutualaid_tests::matched(store, &case.id, &dana.person_id, T0 + 2 * DAY, 3)
        .await
        .expect("Dana shops for Ana");
    (ana, bea, cruz, dana)
}

async fn on_record<S: Store>(store: &S, who: &Accepted) -> bool {
    store.person(&who.person_id).await.expect("read").is_some()
}

#[tokio::test]
async fn sqlite_purges_nobody_who_is_still_waiting() {
    let (_dir, store) = mutualaid_tests::stores::sqlite();
    let (ana, bea, cruz, dana) = three(&store).await;
    // Day 31: past every record's 30 days from its submission.
    assert_eq!(
        store
            .purge_expired(T0 + 31 * DAY, KEEP.days)
            .await
            .expect("purge"),
        1,
        "only Cruz, who asked for nothing"
    );
    assert!(on_record(&store, &ana).await, "Ana's request is open");
    assert!(on_record(&store, &bea).await, "Bea's closed 26 days ago");
    assert!(!on_record(&store, &cruz).await);
    assert!(on_record(&store, &dana).await, "Dana shops for Ana");
    // Day 36: Bea's request closed more than 30 days ago; Ana still waits.
    assert_eq!(
        store
            .purge_expired(T0 + 36 * DAY, KEEP.days)
            .await
            .expect("purge"),
        1
    );
    assert!(!on_record(&store, &bea).await);
    assert!(on_record(&store, &ana).await);
    let ana_case = &store.cases_of(&ana.person_id).await.expect("cases")[0];
    assert!(ana_case.state.is_active(), "and her request with her");
    // A year on, she is still there.
    store
        .purge_expired(T0 + 400 * DAY, KEEP.days)
        .await
        .expect("purge");
    assert!(on_record(&store, &ana).await);
    assert!(on_record(&store, &dana).await);
}

#[tokio::test]
async fn dynamodb_keeps_the_ttl_of_everyone_still_waiting_in_the_future() {
    let Some(store) = mutualaid_tests::stores::dynamodb("retention").await else {
        return;
    };
    let store = store.with_retention(KEEP.days);
    let (ana, bea, cruz, dana) = three(&store).await;
    let expiry = |who: &Accepted| {
        let store = store.clone();
        let id = who.person_id.clone();
        async move {
            store
                .person(&id)
                .await
                .expect("read")
                .expect("on record")
                .expires_at
        }
    };
    let first = T0 + 30 * DAY;
    assert_eq!(
        expiry(&ana).await,
        T0 + 32 * DAY,
        "matched on day 2: kept 30 days from then"
    );
    assert_eq!(expiry(&cruz).await, first);
    assert_eq!(expiry(&dana).await, first);
    assert_eq!(
        expiry(&bea).await,
        T0 + 35 * DAY,
        "a case change keeps the record 30 days from then"
    );
    let bea_case = &store.cases_of(&bea.person_id).await.expect("cases")[0];
    assert_eq!(bea_case.expires_at, T0 + 35 * DAY, "and its case");

    // A digest on day 29 keeps Ana (still waiting) 30 days from then.
    let day_29 = T0 + 29 * DAY;
    assert_eq!(
        store.keep_waiting(day_29).await.expect("kept"),
        2,
        "Ana and Dana"
    );
    assert_eq!(expiry(&ana).await, day_29 + 30 * DAY);
    assert_eq!(expiry(&dana).await, day_29 + 30 * DAY, "she shops for Ana");
    let ana_case = &store.cases_of(&ana.person_id).await.expect("cases")[0];
    assert_eq!(ana_case.expires_at, day_29 + 30 * DAY);
    assert_eq!(expiry(&bea).await, T0 + 35 * DAY, "Bea's request is closed");
    assert_eq!(expiry(&cruz).await, first, "Cruz asked for nothing");
    // Run again, nothing moves backwards.
    assert_eq!(store.keep_waiting(day_29 - DAY).await.expect("kept"), 2);
    assert_eq!(expiry(&ana).await, day_29 + 30 * DAY);
}

/// An organizer's action on a request that has waited longer than the
/// retention period is kept long enough for the next digests to list it:
/// its expiry is never before 30 days from when it was taken, on every store
/// (it was the case's own expiry, long past on SQLite, which then purged the
/// action before any digest could say what was done).
#[tokio::test]
async fn sqlite_keeps_an_action_on_a_long_waiting_request_for_the_digests_after_it() {
    let (_dir, store) = mutualaid_tests::stores::sqlite();
    let (ana, _, _, _) = three(&store).await;
    let a_year_on = T0 + 400 * DAY;
    close(&store, &ana, a_year_on).await;
    store
        .purge_expired(a_year_on + DAY, KEEP.days)
        .await
        .expect("purge");
    let actions = store.actions_since(a_year_on).await.expect("actions");
    assert_eq!(
        actions.iter().map(|a| a.kind.name()).collect::<Vec<_>>(),
        vec!["close"],
        "the close is still there for the next digest"
    );
    assert_eq!(actions[0].expires_at, a_year_on + 30 * DAY);
}

/// A former contact's listing lasts as long as the record that gave it (a
/// deletion on request finds the record by it): on DynamoDB each update
/// raises its TTL with the record's, though the update's transaction writes
/// only the listings that are new.
#[tokio::test]
async fn dynamodb_an_update_keeps_a_former_contact_listed_as_long_as_the_record() {
    let Some(endpoint) = mutualaid_tests::aws::moto() else {
        return;
    };
    let (store, table) = mutualaid_tests::stores::dynamodb_table(&endpoint, "former-ttl").await;
    let bob = |email: &str, availability: Option<&str>| {
        let mut s = person(
            "Bob Cambia",
            Some(email),
            Some("619 555 0171"),
            "92105",
            &["delivery"],
        );
        s.availability = availability.map(str::to_owned);
        Submission::Signup(s)
    };
    let first = domain::accept(&store, bob("bob.old@example.org", None), T0, KEEP)
        .await
        .expect("first");
    domain::accept(&store, bob("bob.new@example.org", None), T0 + DAY, KEEP)
        .await
        .expect("new email");
    // It waits until confirmed: an organizer reached Bob.
    mutualaid_handler::contacts::decide(
        &store,
        &first.person_id,
        None,
        mutualaid_handler::contacts::Decision::Confirm,
        mutualaid_handler::store::Actor::Cli,
        T0 + DAY,
    )
    .await
    .expect("confirmed");
    let later = T0 + 20 * DAY;
    domain::accept(
        &store,
        bob("bob.new@example.org", Some("Mornings")),
        later,
        KEEP,
    )
    .await
    .expect("a later change");
    let record = store
        .person(&first.person_id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(record.expires_at, later + 30 * DAY);
    let item = mutualaid_tests::aws::dynamo(&endpoint)
        .await
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(
                "FORMER#signup:email:bob.old@example.org".into(),
            ),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("PERSON#{}", first.person_id)),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("read")
        .item
        .expect("the former email is listed");
    assert_eq!(
        item.get("expires_at")
            .and_then(|v| v.as_n().ok())
            .map(String::as_str),
        Some((later + 30 * DAY).to_string().as_str()),
        "listed as long as the record"
    );
}

/// Eva waits; Fay, who signed up the same day, is offered Eva's request on
/// day 20 — ten days before Fay's own record would end. Fay is kept while
/// the offer waits for her answer: on SQLite the purge passes her by; on
/// DynamoDB the offer itself moves her expiry (30 days from the offer), not
/// the next digest.
async fn offered_on_day_20<S: Store>(store: &S) -> (Accepted, Accepted) {
    let eva = sign_up(store, "Eva Espera", "619 555 0165", &["delivery"]).await;
    let fay = sign_up(store, "Fay Shopper", "619 555 0166", &["shopper"]).await;
    let case = store.cases_of(&eva.person_id).await.expect("cases")[0].clone();
    cases::act(
        store,
        &case.id,
        None,
        Act::Confirm {
            volunteer: fay.person_id.clone(),
        },
        T0 + 20 * DAY,
        3,
        mutualaid_handler::store::Actor::Cli,
    )
    .await
    .expect("store")
    .expect("offered");
    (eva, fay)
}

#[tokio::test]
async fn sqlite_keeps_a_volunteer_while_an_offer_waits_for_them() {
    let (_dir, store) = mutualaid_tests::stores::sqlite();
    let (eva, fay) = offered_on_day_20(&store).await;
    store
        .purge_expired(T0 + 31 * DAY, KEEP.days)
        .await
        .expect("purge");
    assert!(on_record(&store, &eva).await);
    assert!(on_record(&store, &fay).await, "the offer waits for Fay");
}

#[tokio::test]
async fn dynamodb_keeps_a_volunteer_while_an_offer_waits_for_them() {
    let Some(store) = mutualaid_tests::stores::dynamodb("offer-ttl").await else {
        return;
    };
    let store = store.with_retention(KEEP.days);
    let (_eva, fay) = offered_on_day_20(&store).await;
    let fay = store
        .person(&fay.person_id)
        .await
        .expect("read")
        .expect("on record");
    assert_eq!(fay.expires_at, T0 + 50 * DAY, "30 days from the offer");
}
