//! The common mistakes, and the compile errors they give: each names what
//! is missing and how to fix it (see "When it does not compile" in the
//! crate docs).

// The compiler's list of `Dialect` implementations in the expected output
// names `GrpcStatus`, a dialect of feature `grpc`: the output matches with
// that feature only.
#[cfg(feature = "grpc")]
#[test]
fn common_mistakes_read_well() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
