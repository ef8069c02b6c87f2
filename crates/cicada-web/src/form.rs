//! The start form: what a start request may set (users, spawn rate, host, run time, or the
//! arrival rate; user types and tags), what the page pre-fills from the command line and the
//! scenario, and how a request becomes the engine's launch options.

use cicada::duration::{format_duration, parse_duration};
use cicada::launch::LaunchOptions;
use cicada::scenario::Scenario;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A start request (`POST /api/start`). Every field is optional: what is left out comes from
/// the command line, then the scenario's `[load]`. `users` (closed model) and `rate` (open
/// model) exclude each other.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// Closed model: users to reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    /// Closed model: users started per second until `users` is reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn_rate: Option<f64>,
    /// Open model: iterations started per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Target base URL, e.g. `http://127.0.0.1:8000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Stop after this long, e.g. `30s`, `10m`, `1h30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_time: Option<String>,
    /// Run only these user types (default: all of the scenario's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_types: Option<Vec<String>>,
    /// Run only tasks with one of these tags (empty: all tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A user type of the scenario, to pick from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserTypeChoice {
    pub name: String,
    pub weight: i64,
}

/// What the page shows before a start: the scenario, the model and the form's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScenarioInfo {
    /// The scenario's name.
    pub name: String,
    /// `closed` (users) or `open` (arrival rate), as the defaults ask.
    pub model: String,
    /// The form's pre-filled values (command-line flags, else the scenario's `[load]`).
    pub defaults: StartRequest,
    pub user_types: Vec<UserTypeChoice>,
    /// Every tag used by a task of the scenario, sorted.
    pub tags: Vec<String>,
}

/// A start request that cannot be run (HTTP 400).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormError {
    #[error("give either users (closed model) or rate (open model), not both")]
    BothModels,
    #[error("{field} must be a positive number, got {value}")]
    NotPositive { field: &'static str, value: f64 },
    #[error("run_time: {0}")]
    RunTime(String),
    #[error("unknown user type {0:?} (the scenario has: {1})")]
    UnknownUserType(String, String),
    #[error("pick at least one user type")]
    NoUserType,
}

/// The scenario's choices and the form's defaults for `base` (the command line's options).
pub fn scenario_info(base: &LaunchOptions, scenario: &Scenario) -> ScenarioInfo {
    let flags = &base.load;
    let file = &scenario.load;
    let open = flags.rate.is_some()
        || !flags.rate_stages.is_empty()
        || (flags.users.is_none()
            && flags.stages.is_empty()
            && (file.rate.is_some() || !file.rate_stages.is_empty()));
    let defaults = StartRequest {
        users: (!open)
            .then(|| flags.users.or(file.users))
            .flatten()
            .or((!open).then_some(1)),
        spawn_rate: (!open).then(|| flags.spawn_rate.or(file.spawn_rate).unwrap_or(1.0)),
        rate: open.then(|| flags.rate.or(file.rate)).flatten(),
        host: base.host.clone().or_else(|| scenario.defaults.host.clone()),
        run_time: flags.run_time.or(file.run_time).map(format_duration),
        user_types: None,
        tags: (!base.compile.tags.is_empty()).then(|| base.compile.tags.clone()),
    };
    let mut tags: Vec<String> = scenario
        .user_types
        .iter()
        .flat_map(|u| u.tasks.iter().flat_map(|t| t.tags.iter().cloned()))
        .collect();
    tags.sort();
    tags.dedup();
    ScenarioInfo {
        name: scenario.name.clone(),
        model: if open { "open" } else { "closed" }.to_owned(),
        defaults,
        user_types: scenario
            .user_types
            .iter()
            .map(|u| UserTypeChoice {
                name: u.name.clone(),
                weight: u.weight,
            })
            .collect(),
        tags,
    }
}

/// The launch options of a start request: `base` with the request's fields laid over it.
pub fn launch_options(
    base: &LaunchOptions,
    scenario: &Scenario,
    req: &StartRequest,
) -> Result<LaunchOptions, FormError> {
    if req.users.is_some() && req.rate.is_some() {
        return Err(FormError::BothModels);
    }
    for (field, value) in [("spawn_rate", req.spawn_rate), ("rate", req.rate)] {
        if let Some(v) = value.filter(|v| !(*v > 0.0 && v.is_finite())) {
            return Err(FormError::NotPositive { field, value: v });
        }
    }
    let mut options = base.clone();
    let load = &mut options.load;
    if let Some(users) = req.users {
        load.users = Some(users);
        load.stages.clear();
        load.rate = None;
        load.rate_stages.clear();
    }
    if let Some(rate) = req.rate {
        load.rate = Some(rate);
        load.rate_stages.clear();
        load.users = None;
        load.stages.clear();
        load.spawn_rate = None;
    }
    if let Some(spawn_rate) = req.spawn_rate.filter(|_| req.rate.is_none()) {
        load.spawn_rate = Some(spawn_rate);
    }
    if let Some(text) = req
        .run_time
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        load.run_time = Some(parse_duration(text).map_err(|e| FormError::RunTime(e.to_string()))?);
    }
    if let Some(host) = req.host.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        options.host = Some(host.to_owned());
    }
    if let Some(tags) = &req.tags {
        options.compile.tags = tags.clone();
    }
    let mut scenario = scenario.clone();
    if let Some(picked) = &req.user_types {
        let known: Vec<&str> = scenario
            .user_types
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        if let Some(unknown) = picked.iter().find(|p| !known.contains(&p.as_str())) {
            return Err(FormError::UnknownUserType(
                unknown.clone(),
                known.join(", "),
            ));
        }
        scenario.user_types.retain(|u| picked.contains(&u.name));
        if scenario.user_types.is_empty() {
            return Err(FormError::NoUserType);
        }
    }
    options.scenario = Some(scenario);
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cicada::scenario::parse_scenario;

    const TOML: &str = r#"
name = "two types"
[defaults]
host = "http://127.0.0.1:9"
[load]
users = 5
spawn_rate = 2
run_time = "30s"
[[users]]
name = "reader"
weight = 3
[[users.tasks]]
method = "GET"
path = "/r"
tags = ["read"]
[[users]]
name = "writer"
[[users.tasks]]
method = "POST"
path = "/w"
tags = ["write", "read"]
"#;

    fn scenario() -> Scenario {
        parse_scenario(TOML, std::path::Path::new("x.toml")).unwrap()
    }

    #[test]
    fn defaults_come_from_the_flags_then_the_file() {
        let mut base = LaunchOptions::new("x.toml");
        base.load.users = Some(8);
        let info = scenario_info(&base, &scenario());
        assert_eq!(info.model, "closed");
        assert_eq!(info.defaults.users, Some(8));
        assert_eq!(info.defaults.spawn_rate, Some(2.0));
        assert_eq!(info.defaults.run_time.as_deref(), Some("30s"));
        assert_eq!(info.defaults.host.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(info.tags, ["read", "write"]);
        assert_eq!(info.user_types.len(), 2);
        base.load.rate = Some(50.0);
        let info = scenario_info(&base, &scenario());
        assert_eq!(
            (info.model.as_str(), info.defaults.rate),
            ("open", Some(50.0))
        );
    }

    #[test]
    fn a_request_overrides_and_picks_user_types() {
        let base = LaunchOptions::new("x.toml");
        let req = StartRequest {
            rate: Some(10.0),
            run_time: Some("5s".into()),
            user_types: Some(vec!["writer".into()]),
            ..StartRequest::default()
        };
        let o = launch_options(&base, &scenario(), &req).unwrap();
        assert_eq!(o.load.rate, Some(10.0));
        assert_eq!(o.load.users, None);
        assert_eq!(o.load.run_time, Some(std::time::Duration::from_secs(5)));
        let s = o.scenario.unwrap();
        assert_eq!(s.user_types.len(), 1);
        assert_eq!(s.user_types[0].name, "writer");
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let base = LaunchOptions::new("x.toml");
        let s = scenario();
        let bad = |req: StartRequest| launch_options(&base, &s, &req).unwrap_err().to_string();
        let both = StartRequest {
            users: Some(1),
            rate: Some(1.0),
            ..StartRequest::default()
        };
        assert!(bad(both).contains("not both"));
        let neg = StartRequest {
            spawn_rate: Some(-1.0),
            ..StartRequest::default()
        };
        assert!(bad(neg).contains("spawn_rate must be a positive number"));
        let time = StartRequest {
            run_time: Some("soon".into()),
            ..StartRequest::default()
        };
        assert!(bad(time).starts_with("run_time:"));
        let who = StartRequest {
            user_types: Some(vec!["admin".into()]),
            ..StartRequest::default()
        };
        assert!(bad(who).contains("reader, writer"));
        let none = StartRequest {
            user_types: Some(vec![]),
            ..StartRequest::default()
        };
        assert_eq!(bad(none), "pick at least one user type");
    }
}
