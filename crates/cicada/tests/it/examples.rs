//! The shipped examples stay valid.

use std::path::Path;

use cicada::scenario::{CompileOptions, Program, load_scenario_file};

#[test]
fn dryad_example_compiles_with_the_documented_shape() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dryad.toml");
    let scenario = load_scenario_file(&path).unwrap();
    let program = Program::compile(&scenario, &CompileOptions::default()).unwrap();
    let rows: Vec<String> = program
        .rows
        .iter()
        .map(|r| format!("{} {}", r.method, r.name))
        .collect();
    assert_eq!(
        rows,
        [
            "POST login",
            "GET /api/v1/agent-studio/agents/{{agent_id}}/executions",
            "GET /api/v1/agent-studio/agents/{{agent_id}}/metrics",
            "POST /api/v1/agent-studio/execute",
        ]
    );
    let weights: Vec<u32> = program.user_types[0]
        .tasks
        .iter()
        .map(|t| t.weight)
        .collect();
    assert_eq!(weights, [5, 3, 1]);
    assert_eq!(program.thresholds.len(), 2);
    assert_eq!(program.feeders[0].rows.len(), 3);
}
