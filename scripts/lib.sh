# Shared by scripts/test and scripts/demo: make sure what ams-hub needs is installed and running.
# Idempotent; safe to source on a fresh Debian machine (run as root) or on a developer's box.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/ams-hub/target}"
PG_HOST=127.0.0.1
PG_PORT=5432

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }

ensure_postgres() {
  if pg_up; then return; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL (Debian packages)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  # The tests and the demo connect as postgres over TCP without a password, as on the
  # development machines: allow that for loopback only.
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q '^host all postgres 127.0.0.1/32 trust' "$hba"; then
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && return; sleep 1; done
  echo "PostgreSQL did not come up on $PG_HOST:$PG_PORT" >&2
  exit 1
}

# moto's server (SQS and STS emulator) for the end-to-end tests, in a venv outside the clone.
export AMS_HUB_VENV="${AMS_HUB_VENV:-/var/cache/ams-hub/venv}"
export AMS_MOTO_SERVER="$AMS_HUB_VENV/bin/moto_server"
ensure_moto() {
  if [ -x "$AMS_MOTO_SERVER" ]; then return; fi
  log "installing moto[server] into $AMS_HUB_VENV"
  if ! python3 -m venv "$AMS_HUB_VENV" 2>/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$AMS_HUB_VENV"
  fi
  "$AMS_HUB_VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$AMS_HUB_VENV/bin/pip" install -q 'moto[server]'
}

# cfn-lint checks the CloudFormation templates ams-hub renders for brands (tests/onboarding.rs).
export AMS_CFN_LINT="$AMS_HUB_VENV/bin/cfn-lint"
ensure_cfn_lint() {
  ensure_moto
  if [ -x "$AMS_CFN_LINT" ]; then return; fi
  log "installing cfn-lint into $AMS_HUB_VENV"
  "$AMS_HUB_VENV/bin/pip" install -q cfn-lint
}

# The dashboard's browser test (tests/ui.rs): Debian's Chromium and its WebDriver, driven by
# Python selenium from the venv.
ensure_browser() {
  ensure_moto
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    log "installing chromium and chromium-driver"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  if ! "$AMS_HUB_VENV/bin/python" -c 'import selenium' 2>/dev/null; then
    log "installing selenium into $AMS_HUB_VENV"
    "$AMS_HUB_VENV/bin/pip" install -q selenium
  fi
}

# Standard Webhooks' own Python library verifies ams-hub's webhook signatures in the tests
# (tests/webhooks.rs): an implementation that is not ours.
ensure_standardwebhooks() {
  ensure_moto
  if ! "$AMS_HUB_VENV/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
    log "installing standardwebhooks into $AMS_HUB_VENV"
    "$AMS_HUB_VENV/bin/pip" install -q standardwebhooks
  fi
}

# curl drives the API from the demo and the schemathesis run.
ensure_curl() {
  if command -v curl >/dev/null 2>&1; then return; fi
  log "installing curl"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust (https://rustup.rs) and run again" >&2
    exit 1
  fi
}
