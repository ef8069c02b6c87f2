//! The Kubernetes manifests in deploy/k8s parse, hang together (labels, ports, names, secret
//! keys, the coordinator and its workers), and only use flags that dryad and cicada really have.
//! Their validity against Kubernetes' own schemas is `scripts/validate_k8s.sh` (in `.ci/run`).

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s")
}

fn load(file: &str) -> Vec<Yaml> {
    let path = k8s_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn one(file: &str, kind: &str) -> Yaml {
    load(file)
        .into_iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("{file} has no {kind}"))
}

/// The document of `kind` named `name` in `file`.
fn named(file: &str, kind: &str, name: &str) -> Yaml {
    load(file)
        .into_iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("{file} has no {kind} {name}"))
}

fn s<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {y:?}"))
}

fn container<'a>(workload: &'a Yaml, name: &str) -> &'a Yaml {
    workload["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// Long flags (`--name` or `--name=value`) in a list of arguments or a shell script.
fn long_flags(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| w.split('=').next().unwrap().to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

/// True when `flag` is a clap `long` field (or `long = "flag"`) in the given source file.
fn has_flag(source: &str, flag: &str) -> bool {
    let field = flag.replace('-', "_");
    source.contains(&format!("pub {field}:")) || source.contains(&format!("long = \"{flag}\""))
}

#[test]
fn every_manifest_parses_and_names_its_namespace() {
    let mut files = 0;
    for entry in std::fs::read_dir(k8s_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            files += 1;
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            for doc in load(&name) {
                assert!(doc["apiVersion"].as_str().is_some(), "{name}: apiVersion");
                let kind = s(&doc["kind"], "kind");
                if kind != "Kustomization" && kind != "Namespace" {
                    assert_eq!(
                        doc["metadata"]["namespace"].as_str(),
                        Some("dryad"),
                        "{name} {kind}"
                    );
                }
            }
        }
    }
    assert!(files >= 7, "{files} manifests");
    // Everything the kustomization lists exists.
    let k = one("kustomization.yaml", "Kustomization");
    for r in k["resources"].as_vec().unwrap() {
        assert!(k8s_dir().join(s(r, "resource")).exists(), "{r:?}");
    }
}

#[test]
fn the_deployment_probes_ready_and_health_and_reads_the_database_url_from_the_secret() {
    let d = one("dryad-deployment.yaml", "Deployment");
    let c = container(&d, "dryad");
    let port_name = s(&c["ports"][0]["name"], "port name");
    assert_eq!(c["ports"][0]["containerPort"].as_i64(), Some(8000));
    assert_eq!(
        s(&c["readinessProbe"]["httpGet"]["path"], "readiness"),
        "/ready"
    );
    assert_eq!(
        s(&c["livenessProbe"]["httpGet"]["path"], "liveness"),
        "/health"
    );
    assert_eq!(
        s(&c["readinessProbe"]["httpGet"]["port"], "readiness port"),
        port_name
    );
    for kind in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(
                !c["resources"][kind][r].is_badvalue(),
                "resources.{kind}.{r}"
            );
        }
    }
    let secret = one("secret.example.yaml", "Secret");
    let env = c["env"].as_vec().unwrap();
    for (var, required) in [("DATABASE_URL", true), ("DRYAD_JWT_SECRET", true)] {
        let e = env
            .iter()
            .find(|e| e["name"].as_str() == Some(var))
            .unwrap_or_else(|| panic!("no env {var}"));
        let r = &e["valueFrom"]["secretKeyRef"];
        assert_eq!(
            r["name"].as_str(),
            secret["metadata"]["name"].as_str(),
            "{var}"
        );
        let key = s(&r["key"], "key");
        assert_eq!(
            !secret["stringData"][key].is_badvalue(),
            required,
            "secret has {key}"
        );
    }
    let url = s(&secret["stringData"]["database-url"], "url");
    assert!(url.starts_with("postgres://"), "{url}");
    // Listens on all interfaces, and every flag is one dryad has.
    let args: Vec<&str> = c["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| s(a, "arg"))
        .collect();
    assert_eq!(args[0], "serve");
    assert!(args.contains(&"--bind=0.0.0.0:8000"));
    let dryad_cli =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../dryad/src/cli.rs"))
            .unwrap();
    for flag in long_flags(&args.join(" ")) {
        assert!(has_flag(&dryad_cli, &flag), "dryad has no --{flag}");
    }
}

#[test]
fn the_service_and_the_autoscaler_point_at_the_deployment() {
    let d = one("dryad-deployment.yaml", "Deployment");
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    let svc = one("dryad-service.yaml", "Service");
    for (k, v) in svc["spec"]["selector"].as_hash().unwrap() {
        assert_eq!(&labels[s(k, "label")], v, "selector {k:?}");
    }
    let port_names: Vec<&str> = container(&d, "dryad")["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| s(&p["name"], "port"))
        .collect();
    assert!(port_names.contains(&s(&svc["spec"]["ports"][0]["targetPort"], "targetPort")));

    let hpa = one("dryad-hpa.yaml", "HorizontalPodAutoscaler");
    assert_eq!(s(&hpa["apiVersion"], "api"), "autoscaling/v2");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"].as_str(), Some("Deployment"));
    assert_eq!(target["name"].as_str(), d["metadata"]["name"].as_str());
    let metric = &hpa["spec"]["metrics"][0];
    assert_eq!(metric["resource"]["name"].as_str(), Some("cpu"));
    let min = hpa["spec"]["minReplicas"].as_i64().unwrap();
    let max = hpa["spec"]["maxReplicas"].as_i64().unwrap();
    assert!(1 <= min && min < max, "{min}..{max}");
}

/// Every Rust source of cicada's CLI (the `run` flags live in several files; the distributed
/// ones may live in crates/cicada-dist), as one text for [`has_flag`].
fn cicada_cli_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = String::new();
    walk(&crates.join("cicada-cli/src"), &mut out);
    walk(&crates.join("cicada-dist/src"), &mut out);
    out
}

/// The shell script a cicada container runs (`sh -c SCRIPT`).
fn script(workload: &Yaml) -> String {
    let c = container(workload, "cicada");
    assert_eq!(c["command"][0].as_str(), Some("sh"));
    s(&c["args"][0], "script").to_owned()
}

/// The word after `flag` in a script (`--flag VALUE`).
fn flag_value<'a>(script: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = script.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next()
}

fn env_secret<'a>(c: &'a Yaml, var: &str) -> (&'a str, &'a str) {
    let e = c["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some(var))
        .unwrap_or_else(|| panic!("no env {var}"));
    let r = &e["valueFrom"]["secretKeyRef"];
    (s(&r["name"], "secret name"), s(&r["key"], "secret key"))
}

#[test]
fn the_load_jobs_are_bounded_and_use_real_cicada_flags() {
    let cli = cicada_cli_sources();
    for (file, mode) in [
        ("cicada-master.yaml", "--master"),
        ("cicada-worker-job.yaml", "--worker"),
    ] {
        let job = one(file, "Job");
        let spec = &job["spec"];
        assert!(
            spec["activeDeadlineSeconds"]
                .as_i64()
                .is_some_and(|s| s > 0 && s <= 3600),
            "{file}"
        );
        // A restarted worker would join late (refused); a restarted coordinator would wait for
        // workers that already ran.
        assert_eq!(spec["backoffLimit"].as_i64(), Some(0), "{file}");
        assert_eq!(
            spec["template"]["spec"]["restartPolicy"].as_str(),
            Some("Never")
        );
        let script = script(&job);
        assert!(script.contains("cicada run "), "{script}");
        assert!(script.contains(&format!(" {mode} ")), "{file}: {script}");
        for flag in long_flags(&script) {
            assert!(has_flag(&cli, &flag), "{file}: cicada has no --{flag}");
        }
        let c = container(&job, "cicada");
        // The generator's (and the coordinator's) CPU is reserved, not best effort.
        assert_eq!(
            c["resources"]["requests"]["cpu"], c["resources"]["limits"]["cpu"],
            "{file}"
        );
        assert!(!c["resources"]["limits"]["memory"].is_badvalue(), "{file}");
        assert_eq!(
            c["securityContext"]["allowPrivilegeEscalation"].as_bool(),
            Some(false)
        );
        assert_eq!(
            job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true)
        );
    }
    // The coordinator holds the plan: the run bounds itself there.
    let master = script(&one("cicada-master.yaml", "Job"));
    assert!(
        master.contains("--run-time"),
        "the run must bound itself: {master}"
    );
}

#[test]
fn the_workers_are_as_many_as_the_coordinator_expects_and_reach_it_through_its_service() {
    let master = one("cicada-master.yaml", "Job");
    let workers = one("cicada-worker-job.yaml", "Job");
    let svc = one("cicada-master.yaml", "Service");
    let (m, w) = (script(&master), script(&workers));
    let expected: i64 = flag_value(&m, "--expect-workers")
        .expect("--expect-workers N")
        .parse()
        .unwrap();
    let spec = &workers["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["parallelism"].as_i64(), Some(expected));
    assert_eq!(spec["completions"].as_i64(), Some(expected));

    // The Service selects the coordinator's pod, by name, on its named container ports.
    let labels = &master["spec"]["template"]["metadata"]["labels"];
    for (k, v) in svc["spec"]["selector"].as_hash().unwrap() {
        assert_eq!(&labels[s(k, "label")], v, "selector {k:?}");
    }
    let ports = container(&master, "cicada")["ports"]
        .as_vec()
        .unwrap()
        .clone();
    let container_port = |name: &str| {
        ports
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no container port {name}"))["containerPort"]
            .as_i64()
            .unwrap()
    };
    let service_port = |name: &str| {
        let p = svc["spec"]["ports"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("the Service has no port {name}"))
            .clone();
        (
            p["port"].as_i64().unwrap(),
            s(&p["targetPort"], "targetPort").to_owned(),
        )
    };
    // The link: 5557 (Locust's port) everywhere, the workers dial the Service by name.
    let (link, target) = service_port("master");
    assert_eq!(link, 5557);
    assert_eq!(container_port(&target), link);
    let bind: i64 = flag_value(&m, "--master-bind-port")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(bind, link);
    assert_eq!(flag_value(&m, "--master-bind-host"), Some("0.0.0.0"));
    assert_eq!(
        flag_value(&w, "--master-host"),
        svc["metadata"]["name"].as_str()
    );
    assert_eq!(
        flag_value(&w, "--master-port").map(|p| p.parse::<i64>().unwrap()),
        Some(link)
    );
    // The web UI: 8089 on all interfaces, with a token.
    let (web, target) = service_port("web");
    assert_eq!(web, 8089);
    assert_eq!(container_port(&target), web);
    assert_eq!(
        flag_value(&m, "--web-port").map(|p| p.parse::<i64>().unwrap()),
        Some(web)
    );
    assert_eq!(flag_value(&m, "--web-host"), Some("0.0.0.0"));
    assert_eq!(
        s(
            &container(&master, "cicada")["readinessProbe"]["tcpSocket"]["port"],
            "readiness port"
        ),
        "master"
    );

    // Off loopback the link and the web UI require tokens: from the Secret, whose example has
    // the keys; the workers' token is the coordinator's.
    let secret_keys =
        |name: &str| named("secret.example.yaml", "Secret", name)["stringData"].clone();
    let mt = env_secret(container(&master, "cicada"), "CICADA_MASTER_TOKEN");
    let wt = env_secret(container(&workers, "cicada"), "CICADA_MASTER_TOKEN");
    assert_eq!(mt, wt);
    let web_token = env_secret(container(&master, "cicada"), "CICADA_WEB_AUTH_TOKEN");
    for (name, key) in [mt, web_token] {
        assert!(
            !secret_keys(name)[key].is_badvalue(),
            "secret {name} has {key}"
        );
    }
    assert_ne!(mt, web_token, "one token per door");
    // Both headers show how to create that Secret with those keys.
    let header = std::fs::read_to_string(k8s_dir().join("cicada-master.yaml")).unwrap();
    assert!(header.contains(&format!("create secret generic {}", mt.0)));
    for key in [mt.1, web_token.1] {
        assert!(header.contains(&format!("--from-literal={key}=")), "{key}");
    }
}

/// The files a container sees from ConfigMaps, as (path, ConfigMap name, key). Every ConfigMap
/// must list its items, so the paths are known.
fn config_map_files(workload: &Yaml, container_name: &str) -> Vec<(String, String, String)> {
    let volumes = workload["spec"]["template"]["spec"]["volumes"]
        .as_vec()
        .unwrap();
    let mut out = Vec::new();
    for m in container(workload, container_name)["volumeMounts"]
        .as_vec()
        .unwrap()
    {
        let volume = volumes
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap_or_else(|| panic!("mount {:?} names no volume", m["name"]));
        let dir = s(&m["mountPath"], "mountPath");
        let maps: Vec<&Yaml> = match volume["projected"]["sources"].as_vec() {
            Some(sources) => sources.iter().map(|src| &src["configMap"]).collect(),
            None => vec![&volume["configMap"]],
        };
        for map in maps.into_iter().filter(|m| !m.is_badvalue()) {
            let name = s(&map["name"], "configMap name");
            for item in map["items"]
                .as_vec()
                .unwrap_or_else(|| panic!("ConfigMap {name} lists no items"))
            {
                out.push((
                    format!("{dir}/{}", s(&item["path"], "path")),
                    name.to_owned(),
                    s(&item["key"], "key").to_owned(),
                ));
            }
        }
    }
    out
}

#[test]
fn the_load_jobs_mount_the_scenario_and_its_feeder_file_where_the_scenario_looks() {
    for file in ["cicada-master.yaml", "cicada-worker-job.yaml"] {
        mounts_the_scenario(file);
    }
}

fn mounts_the_scenario(file: &str) {
    let job = one(file, "Job");
    let script = script(&job);
    let scenario_path = script
        .split_whitespace()
        .skip_while(|w| *w != "run")
        .nth(1)
        .expect("cicada run SCENARIO");
    let dir = scenario_path.rsplit_once('/').unwrap().0;
    let files = config_map_files(&job, "cicada");
    let header = std::fs::read_to_string(k8s_dir().join(file)).unwrap();
    // Each file is in the pod, and the header shows how to create its ConfigMap with that key.
    let present = |path: &str| {
        let (_, map, key) = files
            .iter()
            .find(|(p, _, _)| p == path)
            .unwrap_or_else(|| panic!("{file}: {path} is not in the pod: {files:?}"));
        assert!(
            header.contains(&format!("create configmap {map} --from-file={key}=")),
            "{file}: the header shows how to create {map} with key {key}"
        );
    };
    present(scenario_path);
    // Every feeder file the scenario reads, relative to itself.
    let scenario = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/load/dryad.toml"),
    )
    .unwrap();
    let feeders: Vec<&str> = scenario
        .lines()
        .filter_map(|l| l.trim().strip_prefix("file = \""))
        .filter_map(|l| l.split('"').next())
        .collect();
    assert!(!feeders.is_empty(), "the scenario reads a feeder file");
    for feeder in feeders {
        present(&format!("{dir}/{feeder}"));
    }
}

#[test]
fn the_seed_job_is_bounded_reads_the_secret_and_matches_the_local_id_export() {
    let job = one("dryad-seed-job.yaml", "Job");
    let spec = &job["spec"];
    assert!(
        spec["activeDeadlineSeconds"]
            .as_i64()
            .is_some_and(|s| s > 0 && s <= 3600)
    );
    assert!(spec["backoffLimit"].as_i64().is_some_and(|b| b <= 1));
    let c = container(&job, "seed");
    let args: Vec<&str> = c["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| s(a, "arg"))
        .collect();
    assert_eq!(args[0], "seed");
    let dryad_cli =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../dryad/src/cli.rs"))
            .unwrap();
    for flag in long_flags(&args.join(" ")) {
        assert!(has_flag(&dryad_cli, &flag), "dryad has no --{flag}");
    }
    let secret = one("secret.example.yaml", "Secret");
    let url = c["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("DATABASE_URL"))
        .expect("DATABASE_URL");
    let key = s(&url["valueFrom"]["secretKeyRef"]["key"], "key");
    assert!(!secret["stringData"][key].is_badvalue(), "secret has {key}");
    // The local export in the header seeds the same agents (same --seed and --agents).
    let header = std::fs::read_to_string(k8s_dir().join("dryad-seed-job.yaml")).unwrap();
    for flag in args
        .iter()
        .filter(|a| a.starts_with("--agents=") || a.starts_with("--seed="))
    {
        let spaced = flag.replacen('=', " ", 1);
        assert!(
            header.contains(&format!("{spaced} ")) || header.contains(&format!("{spaced}\n")),
            "the local export uses {spaced}"
        );
    }
}
