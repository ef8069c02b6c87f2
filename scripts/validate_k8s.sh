#!/usr/bin/env bash
# Validate Kubernetes manifests against Kubernetes' own OpenAPI schemas, offline, in strict mode
# (an unknown field is an error), with kubernetes-validate (PyPI) against one pinned Kubernetes
# version. Fails (exit 1) on any manifest that does not validate, on a kind/apiVersion with no
# schema at that version (kubernetes-validate only warns about those), on YAML that does not
# parse, on a directory without manifests, and on a kustomization.yaml that lists a missing file.
#
#   scripts/validate_k8s.sh [--kubernetes-version X.Y.Z] [DIR_OR_FILE...]   (default: deploy/k8s)
#   scripts/validate_k8s.sh --self-test     # shows it fails on broken manifests, passes a good one
#
# Kustomize's own kustomization.yaml is not a Kubernetes object (no schema): its resources are
# checked to exist instead. kubernetes-validate must be installed; .ci/run pins its version.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# The Kubernetes release the manifests are written for: kind v0.33's node images span
# 1.34–1.37; 1.36 is one minor release behind the newest, where most managed clusters are.
version=${KUBERNETES_VERSION:-1.36.0}
self_test=false
paths=()
die() { echo "validate_k8s.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -k|--kubernetes-version) version=$2; shift 2 ;;
    --self-test) self_test=true; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) paths+=("$1"); shift ;;
  esac
done
command -v kubernetes-validate >/dev/null || die "kubernetes-validate is not installed (pip install kubernetes-validate)"

if $self_test; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  job() { # NAME SPEC-LINES [API-VERSION]: a Job whose spec holds the given extra lines
    printf 'apiVersion: %s\nkind: Job\nmetadata:\n  name: %s\nspec:\n%b  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: c\n          image: busybox\n' \
      "${3:-batch/v1}" "$1" "$2"
  }
  mkdir -p "$tmp"/{good,unknown-field,wrong-type,no-schema,bad-yaml,missing-field,empty,kustomization}
  job good "  completionMode: Indexed\n  completions: 2\n  parallelism: 2\n" > "$tmp/good/job.yaml"
  printf 'resources:\n  - job.yaml\n' > "$tmp/good/kustomization.yaml"
  job typo "  completionsMode: Indexed\n" > "$tmp/unknown-field/job.yaml"
  job type "  parallelism: two\n" > "$tmp/wrong-type/job.yaml"
  job nope "" batch/v2 > "$tmp/no-schema/job.yaml"
  printf 'apiVersion: v1\nkind: Service\nmetadata: [name: x\n' > "$tmp/bad-yaml/svc.yaml"
  printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - name: a\n' > "$tmp/missing-field/svc.yaml"
  cp "$tmp/good/job.yaml" "$tmp/kustomization/job.yaml"
  printf 'resources:\n  - job.yaml\n  - gone.yaml\n' > "$tmp/kustomization/kustomization.yaml"
  "$0" -k "$version" "$tmp/good" >/dev/null || { echo "self-test: a good manifest failed" >&2; exit 1; }
  for case in unknown-field wrong-type no-schema bad-yaml missing-field empty kustomization; do
    if out=$("$0" -k "$version" "$tmp/$case" 2>&1); then
      echo "self-test: the broken manifest '$case' passed:" >&2
      echo "$out" >&2
      exit 1
    fi
    echo "self-test: $case refused: $(echo "$out" | grep -m1 -E 'ERROR|WARN|validate_k8s|parse' || echo "$out" | head -n1)"
  done
  echo "self-test: ok (kubernetes $version)"
  exit 0
fi

[ ${#paths[@]} -gt 0 ] || paths=("$root/deploy/k8s")
manifests=()
kustomizations=()
for p in "${paths[@]}"; do
  if [ -d "$p" ]; then
    while IFS= read -r f; do
      case "$(basename "$f")" in
        kustomization.yaml|kustomization.yml) kustomizations+=("$f") ;;
        *) manifests+=("$f") ;;
      esac
    done < <(find "$p" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
  elif [ -f "$p" ]; then
    manifests+=("$p")
  else
    die "no such file or directory: $p"
  fi
done
[ ${#manifests[@]} -gt 0 ] || { echo "validate_k8s.sh: no manifests in ${paths[*]}" >&2; exit 1; }

status=0
for k in "${kustomizations[@]}"; do
  dir=$(dirname "$k")
  # The `resources:` list, one `- file` a line, as kustomization.yaml writes it.
  while IFS= read -r r; do
    [ -e "$dir/$r" ] || { echo "ERROR $k lists $r, which does not exist"; status=1; }
  done < <(sed -n '/^resources:/,/^[^ -]/s/^ *- *\([^ #]*\).*/\1/p' "$k")
done

set +e
out=$(kubernetes-validate --strict -k "$version" "${manifests[@]}" 2>&1)
rc=$?
set -e
echo "$out"
if [ $rc -ne 0 ]; then
  status=1
fi
# A kind or apiVersion without a schema at this version is only a warning there: an error here.
if grep -q '^WARN' <<<"$out"; then
  echo "validate_k8s.sh: a resource has no schema at Kubernetes $version (wrong apiVersion or kind?)" >&2
  status=1
fi
if [ $status -eq 0 ]; then
  echo "validate_k8s.sh: ${#manifests[@]} manifest file(s) valid against Kubernetes $version (strict)"
fi
exit $status
