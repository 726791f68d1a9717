//! What a person sees (issue 14) where it is not the browser tests' job:
//! a form's action opened by hand, the words around the form, the digest's
//! pairing lines, the settings a real deployment must change.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::handler::{harness, send};

#[tokio::test]
async fn opening_a_forms_action_leads_to_the_form_in_the_readers_language() {
    let h = harness(100);
    for (path, headers, wanted) in [
        ("/api/signup", vec![], "/signup/"),
        (
            "/api/signup",
            vec![(header::REFERER, "https://mutualaid.example.org/es/signup/")],
            "/es/signup/",
        ),
        (
            "/api/signup",
            vec![(header::ACCEPT_LANGUAGE, "es-MX,es;q=0.9,en;q=0.5")],
            "/es/signup/",
        ),
        (
            "/api/signup",
            vec![
                (header::REFERER, "https://mutualaid.example.org/signup/"),
                (header::ACCEPT_LANGUAGE, "es-MX"),
            ],
            "/signup/",
        ),
        ("/api/donate", vec![], "/donate/"),
        (
            "/api/donate",
            vec![(header::ACCEPT_LANGUAGE, "es")],
            "/es/donate/",
        ),
    ] {
        let mut request = Request::get(path);
        for (name, value) in &headers {
            request = request.header(name, *value);
        }
        let answer = send(&h.router, request.body(Body::empty()).expect("request")).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path} {headers:?}");
        assert_eq!(
            answer.headers[header::LOCATION].to_str().expect("ascii"),
            wanted,
            "{path} {headers:?}"
        );
    }
}
