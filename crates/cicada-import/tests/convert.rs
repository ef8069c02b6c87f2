//! Conversion snapshots: every Locust file under `tests/fixtures/` (and DRYAD's own, read from
//! `../shared/fixtures/`) converts to exactly its `.toml` beside it — the scenario and, in its
//! header, the list of what was not converted — and `cicada check`'s validation
//! (`cicada::launch::check`) accepts every output. `UPDATE_SNAPSHOTS=1` rewrites the snapshots.

use std::path::{Path, PathBuf};

use cicada::launch::{LaunchOptions, check};
use cicada_import::{ImportError, NoteKind, Options, convert_file, convert_source};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// DRYAD's locustfile, in the `shared/fixtures/` folder beside the repository (`../shared/`
/// from the repository root on CI; a git worktree may sit deeper, so every ancestor is tried).
pub fn dryad_locustfile() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared/fixtures/dryad_locustfile.py"))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "dryad_locustfile.py not found in shared/fixtures/ beside any ancestor of {}",
                here.display()
            )
        })
}

/// Convert, compare with the snapshot, and validate the output as `cicada check` does.
fn snapshot(py: &Path, expected: &Path) -> cicada_import::Conversion {
    let conversion = convert_file(py, &Options::default()).unwrap();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(expected, &conversion.toml).unwrap();
    }
    let want = std::fs::read_to_string(expected)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", expected.display()));
    assert_eq!(
        conversion.toml,
        want,
        "{} converts differently from {} (UPDATE_SNAPSHOTS=1 rewrites it)",
        py.display(),
        expected.display()
    );
    // The real validation of `cicada check`, on the written file.
    let checked = check(&LaunchOptions::new(expected))
        .unwrap_or_else(|e| panic!("cicada check rejects {}: {e}", expected.display()));
    assert!(!checked.program.user_types.is_empty());
    conversion
}

fn fixture(name: &str) -> cicada_import::Conversion {
    let dir = fixtures();
    snapshot(
        &dir.join(format!("{name}.py")),
        &dir.join(format!("{name}.toml")),
    )
}

/// The notes as (line, kind) pairs.
fn notes(c: &cicada_import::Conversion) -> Vec<(usize, NoteKind)> {
    c.notes.iter().map(|n| (n.line, n.kind)).collect()
}

#[test]
fn dryad_locustfile_converts_completely() {
    let py = dryad_locustfile();
    let c = snapshot(&py, &fixtures().join("dryad_locustfile.toml"));
    // Only the test_stop summary logging is left, and cicada's summary covers it.
    assert_eq!(notes(&c), vec![(55, NoteKind::Covered)]);
    assert!(c.toml.contains("agent_id = { type = \"uuid\" }"));
    assert!(
        c.toml
            .contains("path = \"/api/v1/agent-studio/agents/{{agent_id}}/executions\"")
    );
    assert!(
        c.toml
            .contains("capture = { token = { json = \"/access_token\" } }")
    );
    assert!(
        c.toml
            .contains("headers = { Authorization = \"Bearer {{token}}\" }")
    );
    for w in ["weight = 5", "weight = 3"] {
        assert!(c.toml.contains(w), "{w}");
    }
}

#[test]
fn fast_http_user_with_constant_pacing() {
    let c = fixture("fast_pacing");
    assert!(c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn tasks_dict_of_module_functions() {
    let c = fixture("tasks_dict");
    assert!(c.notes.is_empty(), "{:?}", c.notes);
}

#[test]
fn tasksets_are_flattened_and_say_so() {
    let c = fixture("tasksets");
    assert_eq!(
        notes(&c),
        vec![
            (15, NoteKind::Covered),      // interrupt() at the end of the sequence
            (19, NoteKind::Approximated), // Browse.on_start becomes the user's
            (27, NoteKind::NotConverted), // the task `stop` holds no request
            (28, NoteKind::Covered),      // interrupt()
            (33, NoteKind::Approximated), // TaskSet Browse flattened
            (33, NoteKind::Approximated), // SequentialTaskSet Checkout as one task
        ]
    );
}

#[test]
fn catch_response_becomes_checks() {
    let c = fixture("catch_response");
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    assert!(
        c.toml
            .contains("checks = [{ json = \"/status\", equals = \"ok\" }]")
    );
    assert!(c.toml.contains("expect_status = 404"));
    assert!(
        c.toml
            .contains("{ body_contains = \"cicada\" }, { json = \"/results/0/id\" }")
    );
}

#[test]
fn tags_and_fixed_count() {
    let c = fixture("tags_fixed");
    assert_eq!(
        notes(&c),
        vec![(7, NoteKind::Approximated), (17, NoteKind::Approximated)]
    );
}

#[test]
fn polling_loops_become_until_steps() {
    let c = fixture("polling");
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    assert!(
        c.toml
            .contains("until = 'json(\"/status\") in [\"COMPLETED\", \"FAILED\"]'")
    );
    assert!(c.toml.contains("max_tries = 10"));
    assert!(
        c.toml
            .contains("foreach = \"/executions\"\nas = \"past\"\nselect = \"/id\"\nlimit = 3")
    );
}

#[test]
fn unconvertible_constructs_are_each_listed_with_line_and_reason() {
    let c = fixture("unconvertible");
    let not: Vec<usize> = c
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::NotConverted)
        .map(|n| n.line)
        .collect();
    // module code, the non-HTTP User, the task `coin` left empty (its coin flip, its absolute URL),
    // `upload` left empty (files=, a log line), `users_online` left empty (the runner's user count
    // and the request that uses it), the request listener, __main__.
    assert_eq!(
        not,
        vec![8, 11, 21, 22, 24, 27, 28, 29, 36, 37, 38, 41, 47],
        "{:#?}",
        c.notes
    );
    // The poll that reads the response it is about to replace is converted, and says how.
    assert!(c.notes.iter().any(|n| n.line == 56
        && n.kind == NoteKind::Approximated
        && n.reason.contains("the response from before the loop")));
    for n in &c.notes {
        assert!(
            c.toml
                .contains(&format!("#   line {}: `{}`", n.line, n.code)),
            "{n}"
        );
        assert!(c.toml.contains(&n.reason), "{n}");
    }
}

#[test]
fn a_file_without_an_http_user_is_refused() {
    let e = convert_source(
        "from locust import User\nclass U(User):\n    pass\n",
        "empty.py",
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ImportError::NoUsers { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("empty.py: no Locust user class converts"),
        "{e}"
    );
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let e = convert_source(
        "class A(HttpUser:\n    pass\n",
        "bad.py",
        &Options::default(),
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("bad.py:1:"), "{e}");
}

#[test]
fn a_missing_python_is_a_clear_error() {
    let options = Options {
        python: "/nonexistent/python3".into(),
    };
    let e = convert_source("", "x.py", &options).unwrap_err();
    assert!(matches!(e, ImportError::PythonMissing { .. }));
    assert!(e.to_string().contains("install Python 3"), "{e}");
}

#[test]
fn helpers_merged_headers_header_captures_and_think_times() {
    let c = fixture("helpers");
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    assert!(
        c.toml
            .contains("capture = { session = { header = \"X-Session\" } }")
    );
    assert!(
        c.toml
            .contains("headers = { If-Match = \"*\", X-Session = \"{{session}}\" }")
    );
    assert!(c.toml.contains("if = 'header(\"ETag\") == null'"));
    assert!(c.toml.contains("loop = 3"));
}

/// A poll whose break test is `cond`, converted; returns the `until` line.
fn until_of(cond: &str) -> String {
    let py = format!(
        "from locust import HttpUser, task\n\
         class U(HttpUser):\n    \
         @task\n    \
         def t(self):\n        \
         limit = 3\n        \
         while True:\n            \
         r = self.client.get('/x')\n            \
         if {cond}:\n                \
         break\n"
    );
    let c = convert_source(&py, "cond.py", &Options::default()).unwrap();
    assert!(c.notes.is_empty(), "{cond}: {:?}", c.notes);
    // cicada's own expression parser must accept it (conditions are checked at load time).
    let scenario = cicada::scenario::parse_scenario(&c.toml, Path::new("cond.toml"))
        .unwrap_or_else(|e| panic!("{cond}: {e}\n{}", c.toml));
    cicada::scenario::Program::compile(&scenario, &Default::default())
        .unwrap_or_else(|e| panic!("{cond}: {e}\n{}", c.toml));
    let line = c.toml.lines().find(|l| l.starts_with("until = ")).unwrap();
    line.trim_start_matches("until = ").to_owned()
}

#[test]
fn python_conditions_become_cicada_conditions() {
    for (python, cicada) in [
        ("r.status_code == 200", "\"status == 200\""),
        ("r.status_code != 202", "\"status != 202\""),
        (
            "r.json()['state'] == 'done'",
            r#"'json("/state") == "done"'"#,
        ),
        (
            "r.json()['items'][0]['id'] is not None",
            r#"'json("/items/0/id") != null'"#,
        ),
        ("r.json().get('done')", r#"'json("/done")'"#),
        ("r.json()['n'] >= limit", r#"'json("/n") >= "3"'"#),
        (
            "r.headers['X-State'] in ['a', 'b']",
            r#"'header("X-State") in ["a", "b"]'"#,
        ),
        ("'ready' in r.text", r#"'"ready" in body'"#),
        (
            "r.ok and not r.json()['busy']",
            r#"'((status < 400)) and (not (json("/busy")))'"#,
        ),
        (
            "r.status_code == 200 or r.status_code == 204",
            "\"(status == 200) or (status == 204)\"",
        ),
    ] {
        assert_eq!(until_of(python), cicada, "{python}");
    }
}

#[test]
fn dryad_journey_the_locust_way() {
    let c = fixture("dryad_journey");
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    assert!(c.toml.contains("interval = \"100ms\""));
    assert!(c.toml.contains("foreach = \"/executions\""));
}
