#!/usr/bin/env bash
# Install the system packages fiveplans' optional features and tests need (Debian/Ubuntu).
#
#   scripts/install-system-deps.sh [postgis] [chromium] [fonts]     (default: all groups)
#
#   postgis   PostgreSQL server + PostGIS (tests marked `postgis`, fiveplans.layers.postgis)
#   chromium  headless Chromium + chromedriver (PDF reports, map screenshots), poppler-utils
#             (pdftotext/pdftoppm: the report tests read the PDF back)
#   fonts     Noto CJK fonts, so Chinese labels render in static maps and PDFs
#
# Idempotent: packages already installed are left alone, and `apt-get update` runs at most once,
# only when something is missing. As root it installs; otherwise it prints what is missing and
# the command to install it, and exits 0.
set -euo pipefail

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

groups=()
for arg in "$@"; do
    case "$arg" in
        postgis | chromium | fonts) groups+=("$arg") ;;
        all) groups+=(postgis chromium fonts) ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "install-system-deps: unknown group '$arg' (choose from: postgis chromium fonts)" >&2
            exit 2
            ;;
    esac
done
if [ ${#groups[@]} -eq 0 ]; then
    groups=(postgis chromium fonts)
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: not a Debian/Ubuntu system (no dpkg/apt-get)." >&2
    echo "  Install by hand: PostgreSQL + PostGIS, Chromium + chromedriver, Noto CJK fonts." >&2
    exit 0
fi

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_updated=1
    fi
}

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# The first candidate package name apt knows (names differ between releases).
first_available() {
    local name
    for name in "$@"; do
        if apt-cache show "$name" >/dev/null 2>&1; then
            echo "$name"
            return 0
        fi
    done
    return 1
}

postgis_packages() {
    local pkgs=(postgresql) major="" name
    # The PostGIS package must match the server's major version (postgresql-15-postgis-3).
    if is_installed postgresql; then
        major=$(dpkg-query -W -f='${Depends}' postgresql | grep -o 'postgresql-[0-9]\+' | head -n1 |
            sed 's/postgresql-//')
    fi
    if [ -z "$major" ]; then
        major=$(apt-cache depends postgresql 2>/dev/null | grep -o 'postgresql-[0-9]\+' | head -n1 |
            sed 's/postgresql-//' || true)
    fi
    if [ -n "$major" ] && name=$(first_available "postgresql-${major}-postgis-3"); then
        pkgs+=("$name")
    else
        pkgs+=(postgis)
    fi
    echo "${pkgs[@]}"
}

compute_missing() {
    local group pkg
    local -a pkgs
    wanted=()
    for group in "${groups[@]}"; do
        case "$group" in
            postgis)
                read -r -a pkgs <<<"$(postgis_packages)"
                wanted+=("${pkgs[@]}")
                ;;
            chromium) wanted+=(chromium chromium-driver poppler-utils) ;;
            fonts) wanted+=(fonts-noto-cjk) ;;
        esac
    done
    missing=()
    for pkg in "${wanted[@]}"; do
        if ! is_installed "$pkg"; then
            missing+=("$pkg")
        fi
    done
}

compute_missing
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-system-deps: all present (${wanted[*]})"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing ${missing[*]}"
    echo "  not root, so nothing was installed; run as root:"
    echo "    sudo $0 ${groups[*]}"
    echo "  or: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 0
fi

apt_update_once
# Package names (the PostGIS one follows the server's major version) are resolved again
# against the fresh package lists.
compute_missing
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-system-deps: all present (${wanted[*]})"
    exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-system-deps: done"
