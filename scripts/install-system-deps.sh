#!/usr/bin/env bash
# Install the Debian packages the test suite needs, and make sure PostgreSQL runs and accepts the tests.
# Idempotent: installs only what is missing (one `apt-get update` first, only when something is), starts
# PostgreSQL only when it is not answering. Run as root, or as a user with sudo.
set -euo pipefail

PACKAGES=(
    python3-venv                      # `make venv` (python3 -m venv)
    mosquitto mosquitto-clients       # tests/services/mosquitto.py (mosquitto, mosquitto_passwd)
    python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools        # tests/services/rtsp_serve.py, under /usr/bin/python3
    gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
)
# ---- browser tests (a later issue): add `chromium chromium-driver` here ----
BROWSER_PACKAGES=(chromium)       # tests/test_web_*.py: Playwright drives /usr/bin/chromium (never `playwright install`)

PG_HOST=127.0.0.1
PG_PORT=5432

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=0

say() { echo "install-system-deps: $*"; }

missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

apt_install() {
    [ "$#" -eq 0 ] && return 0
    if [ "${#SUDO[@]}" -gt 0 ] && ! command -v sudo >/dev/null; then
        say "need root or sudo to install: $*" >&2
        exit 1
    fi
    if [ "$apt_updated" -eq 0 ]; then
        "${SUDO[@]}" apt-get update
        apt_updated=1
    fi
    say "installing $*"
    "${SUDO[@]}" apt-get install -y --no-install-recommends "$@"
}

mapfile -t missing < <(missing_packages "${PACKAGES[@]}" "${BROWSER_PACKAGES[@]}")
apt_install "${missing[@]}"

# ---- PostgreSQL ------------------------------------------------------------------------------------------
pg_answers() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }

if ! command -v pg_ctlcluster >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
fi
if ! pg_answers; then
    for version in $(ls /etc/postgresql); do
        say "starting PostgreSQL $version/main"
        "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 30); do pg_answers && break; sleep 1; done
    pg_answers || { say "PostgreSQL does not answer on $PG_HOST:$PG_PORT" >&2; exit 1; }
fi

# The tests (tests/services/postgres.py) log in as `postgres` over TCP (trust-auth setups), else as the
# current user over the Unix socket (peer auth). A stock Debian install allows neither for us, so give the
# current user a role that may create databases. Skipped when EDGEWATCH_TEST_PG names another server.
me=$(id -un)
if [ -z "${EDGEWATCH_TEST_PG:-}" ] \
    && ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1 \
    && ! psql -p "$PG_PORT" -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    say "creating PostgreSQL role $me (CREATEDB) for the tests"
    if [ "$(id -u)" -eq 0 ]; then AS_PG=(runuser -u postgres --); else AS_PG=(sudo -u postgres); fi
    "${AS_PG[@]}" psql -p "$PG_PORT" -d postgres -v ON_ERROR_STOP=1 -qc \
        "DO \$\$ BEGIN
           IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$me') THEN CREATE ROLE \"$me\" LOGIN CREATEDB;
           ELSE ALTER ROLE \"$me\" LOGIN CREATEDB; END IF;
         END \$\$;"
fi
say "system dependencies ready"
