//! CLI snapshot tests: each `tests/cmd/*.toml` pins args, stdin, stdout, stderr and exit code.
//! Sealed values are random, so snapshots match them with `[..]`.
//! Regenerate after an intended change with `TRYCMD=overwrite cargo test -p kseal --test cli_tests`,
//! then put `[..]` back in place of ciphertext.

#[test]
fn cli_tests() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
