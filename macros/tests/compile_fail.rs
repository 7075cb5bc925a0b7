//! Structural mistakes in `pipeline!` and `#[derive(Event)]` are compile
//! errors pointing at the offending tokens; `ui/*.stderr` hold the exact
//! messages (regenerate with `TRYBUILD=overwrite`).

#[test]
fn mistakes_are_reported_on_the_users_tokens() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
