//! The common mistakes, and the compile errors they give: each names what
//! is missing and how to fix it (see "When it does not compile" in the
//! crate docs).

#[test]
fn common_mistakes_read_well() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
