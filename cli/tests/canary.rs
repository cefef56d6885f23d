//! A canary value is sealed through every CLI path, error paths included; it must never appear
//! in stdout or stderr (nor its base64 form, which is how Secret manifests carry it).

mod common;

use common::{Run, TempDir, fixtures, kseal};

const CANARY: &str = "CANARY-7f3a9e-s3cr3t";
const CANARY_B64: &str = "Q0FOQVJZLTdmM2E5ZS1zM2NyM3Q="; // base64 of CANARY

fn assert_clean(case: &str, run: &Run) {
    for needle in [CANARY, "s3cr3t", CANARY_B64, "7f3a9e"] {
        assert!(
            !run.stdout.contains(needle),
            "{case}: stdout contains the canary"
        );
        assert!(
            !run.stderr.contains(needle),
            "{case}: stderr contains the canary:\n{}",
            run.stderr
        );
    }
}

fn cert() -> String {
    fixtures().join("test.pem").display().to_string()
}

#[test]
fn canary_never_reaches_output() {
    let dir = tempdir();
    let cert = cert();
    let base = [
        "seal",
        "--no-config",
        "--cert",
        &cert,
        "--name",
        "app",
        "-n",
        "ns",
    ];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |case: &str, args: Vec<String>, stdin: &str, expect_ok: bool| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = kseal(&args, stdin, dir.path(), &[("KSEAL_CANARY_ENV", CANARY)]);
        assert_eq!(
            r.code == 0,
            expect_ok,
            "{case}: exit {} stderr:\n{}",
            r.code,
            r.stderr
        );
        assert_clean(case, &r);
        r
    };

    let env = format!(
        "GOOD={CANARY}\nQUOTED=\"{CANARY}\"\nSINGLE='{CANARY}'\nPEM=\"-----BEGIN X-----\n{CANARY}\n-----END X-----\"\n"
    );
    // Successful paths.
    let sealed = run("env yaml", with(&[]), &env, true);
    assert!(sealed.stdout.contains("kind: SealedSecret"));
    run("env json", with(&["-o", "json"]), &env, true);
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        run(scope, with(&["--scope", scope]), &env, true);
    }
    run(
        "kubectl format",
        with(&["--env-format", "kubectl"]),
        &format!("A={CANARY}\nKSEAL_CANARY_ENV\n"),
        true,
    );
    run(
        "lenient format",
        with(&["--env-format", "lenient"]),
        &format!("A = {CANARY}\n"),
        true,
    );
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: ns\ndata:\n  A: {CANARY_B64}\nstringData:\n  B: {CANARY}\n"
    );
    run("manifest", with(&[]), &manifest, true);
    run("raw", with(&["--raw"]), CANARY, true);
    let out = dir.path().join("out.yaml");
    let out_s = out.display().to_string();
    let mut args = with(&["-w"]);
    args.push(out_s.clone());
    run("write file", args, &env, true);
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(!written.contains(CANARY) && !written.contains(CANARY_B64));
    let mut args = with(&["--merge-into"]);
    args.push(out_s.clone());
    run("merge-into", args, &format!("NEW={CANARY}\n"), true);
    assert!(!std::fs::read_to_string(&out).unwrap().contains(CANARY));

    // Error paths: every .env diagnostic that involves a value, with the canary in the value.
    let bad_env = [
        format!("A={CANARY} x\n"),           // E005
        format!("A={CANARY}#x\n"),           // E006
        format!("A={CANARY}$X\n"),           // E007
        format!("A={CANARY}\\n\n"),          // E008
        format!("A=\"{CANARY}\n"),           // E009
        format!("A=\"{CANARY}\"x\n"),        // E010
        format!("A=\"{CANARY}\\t\"\n"),      // E011
        format!("A='{CANARY}\\''\n"),        // E012
        format!("A=`{CANARY}`\n"),           // E013
        format!("A: {CANARY}\n"),            // E014
        format!("A={CANARY}\nA={CANARY}\n"), // E015
        format!("A={CANARY}  \n"),           // E016
        format!("A={CANARY}\u{0}\n"),        // E001
        format!("A=\"{CANARY}\n\"\n"),       // W102 (warning, succeeds)
    ];
    for (i, text) in bad_env.iter().enumerate() {
        let expect_ok = i == bad_env.len() - 1;
        run(&format!("bad env #{i}"), with(&[]), text, expect_ok);
    }
    let huge = format!("A={}\n", CANARY.repeat(60_000)); // E017: over 1 MiB
    run("E017", with(&[]), &huge, false);
    run(
        "bad base64",
        with(&[]),
        &manifest.replace(CANARY_B64, &format!("{CANARY}!!")),
        false,
    );
    run(
        "non-string value",
        with(&[]),
        &manifest.replace(&format!("B: {CANARY}"), &format!("B: [{CANARY}]")),
        false,
    );
    run(
        "bad yaml",
        with(&[]),
        &format!("apiVersion: v1\nkind: Secret\ndata: {{A: \"{CANARY}\n"),
        false,
    );
    let expired = fixtures().join("expired.pem").display().to_string();
    let r = kseal(
        &[
            "seal",
            "--no-config",
            "--cert",
            &expired,
            "--name",
            "a",
            "-n",
            "b",
        ],
        &env,
        dir.path(),
        &[],
    );
    assert_ne!(r.code, 0);
    assert_clean("expired cert", &r);
    let r = kseal(
        &["seal", "--no-config", "--cert", &cert],
        &env,
        dir.path(),
        &[],
    );
    assert_eq!(r.code, 2, "missing name is a usage error");
    assert_clean("missing name", &r);

    // Unsealing with the wrong key fails without echoing anything it read.
    let sealed_file = dir.path().join("sealed.yaml");
    std::fs::write(&sealed_file, &sealed.stdout).unwrap();
    let wrong = fixtures().join("wrong.key").display().to_string();
    let r = kseal(
        &[
            "unseal",
            "--key",
            &wrong,
            &sealed_file.display().to_string(),
        ],
        "",
        dir.path(),
        &[],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_clean("unseal wrong key", &r);
    assert!(
        r.stderr.contains("no key could decrypt secret"),
        "{}",
        r.stderr
    );
}

/// `verify`, `guard`, `rotate` and `keys` read sealed files and plaintext files full of canaries,
/// on success and error paths; none of it may be echoed.
#[test]
fn canary_never_reaches_output_of_repository_commands() {
    let dir = tempdir_named("repo");
    let d = dir.path();
    let cert = cert();
    let key = fixtures().join("test.key").display().to_string();
    let wrong = fixtures().join("wrong.key").display().to_string();
    let check = |case: &str, args: &[&str], expect: i32| {
        let r = kseal(args, "", d, &[]);
        assert_eq!(r.code, expect, "{case}: stderr:\n{}", r.stderr);
        assert_clean(case, &r);
    };
    let env = format!("A={CANARY}\nB=\"{CANARY}\"\n");
    let seal = |scope: &str| {
        kseal(
            &[
                "seal",
                "--no-config",
                "--cert",
                &cert,
                "--name",
                "app",
                "-n",
                "ns",
                "--scope",
                scope,
            ],
            &env,
            d,
            &[],
        )
        .stdout
    };
    std::fs::create_dir_all(d.join("sealed")).unwrap();
    let sealed = seal("strict") + &seal("namespace-wide");
    std::fs::write(d.join("sealed/app.yaml"), &sealed).unwrap();
    let pasted = sealed.replacen("    A: AQ", &format!("    A: {CANARY} AQ"), 1);
    std::fs::write(d.join("pasted.yaml"), &pasted).unwrap();

    check(
        "verify",
        &["verify", "sealed", "--no-config", "--cert", &cert],
        0,
    );
    check(
        "verify pasted",
        &["verify", "pasted.yaml", "--no-config", "--cert", &cert],
        5,
    );
    check(
        "keys",
        &["keys", "sealed", "--no-config", "--cert", &cert],
        0,
    );

    // rotate: to a new key with the right key, the wrong key, --check and --dry-run.
    check(
        "keygen",
        &["keygen", "--out", "new", "--key-size", "2048"],
        0,
    );
    let rotate = ["rotate", "sealed", "--no-config", "--cert", "new/tls.crt"];
    check("rotate check", &[&rotate[..], &["--check"]].concat(), 5);
    check(
        "rotate dry",
        &[&rotate[..], &["--dry-run", "--key", &key]].concat(),
        0,
    );
    check(
        "rotate wrong key",
        &[&rotate[..], &["--key", &wrong]].concat(),
        4,
    );
    check(
        "rotate pasted",
        &[
            "rotate",
            "pasted.yaml",
            "--no-config",
            "--cert",
            "new/tls.crt",
            "--key",
            &key,
        ],
        4,
    );
    check("rotate", &[&rotate[..], &["--key", &key]].concat(), 0);
    let rotated = std::fs::read_to_string(d.join("sealed/app.yaml")).unwrap();
    assert!(!rotated.contains(CANARY) && !rotated.contains(CANARY_B64));
    check("rotate again", &[&rotate[..], &["--key", &key]].concat(), 0);

    // guard: every kind of plaintext, and broken YAML around a canary.
    let files = [
        (".env", env.clone()),
        (".env.example", format!("API_KEY={CANARY}\n")),
        (
            "secret.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata:\n  A: {CANARY_B64}\nstringData:\n  B: {CANARY}\n"
            ),
        ),
        (
            "secret.json",
            format!("{{\"kind\": \"Secret\", \"stringData\": {{\"A\": \"{CANARY}\"}}}}"),
        ),
        (
            "helm.yaml",
            format!(
                "kind: Secret\nmetadata:\n  name: {{{{ .x }}}}-y\nstringData:\n  A: {CANARY}\n  B: |\n    {CANARY}\n"
            ),
        ),
        (
            "broken.yaml",
            format!("kind: Secret\nstringData: {{A: \"{CANARY}\n"),
        ),
        (
            "broken.json",
            format!("{{\"kind\": \"Secret\", \"stringData\": {{\"A\": \"{CANARY}\" \"B\"}}}}"),
        ),
        ("pasted.yaml", pasted.clone()),
    ];
    let mut args = vec!["guard".to_owned()];
    for (name, text) in &files {
        std::fs::write(d.join(name), text).unwrap();
        args.push((*name).to_owned());
        check(&format!("guard {name}"), &["guard", name], 5);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    check("guard all", &args, 5);
    check(
        "verify broken",
        &["verify", "broken.yaml", "broken.json", "--no-config"],
        5,
    );
    check(
        "rotate broken",
        &[
            "rotate",
            "broken.yaml",
            "--no-config",
            "--cert",
            &cert,
            "--check",
        ],
        3,
    );
}

fn tempdir() -> TempDir {
    TempDir::new("canary-seal")
}

fn tempdir_named(name: &str) -> TempDir {
    TempDir::new(&format!("canary-{name}"))
}
