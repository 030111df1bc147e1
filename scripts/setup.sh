#!/usr/bin/env bash
# Installs what Walkout needs to build, test and run, skipping whatever is already there:
# Debian packages (GStreamer, PostgreSQL, Chromium), and the ONNX Runtime shared library from the PyPI
# package `onnxruntime` into .cache/ort. Safe to run again; quiet when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION="${ORT_VERSION:-1.31.1}"
ORT_DIR=".cache/ort/onnxruntime-${ORT_VERSION}"
ORT_LIB="${ORT_DIR}/onnxruntime/capi/libonnxruntime.so.${ORT_VERSION}"

APT_PACKAGES=(
  pkg-config
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  postgresql
  # The dashboard's browser test (api/tests/browser.rs) drives headless Chromium through chromedriver.
  chromium chromium-driver
)
# pip fetches the ONNX Runtime wheel; a Python that has it (pyenv, a venv) is fine as it is.
if ! python3 -m pip --version >/dev/null 2>&1; then
  APT_PACKAGES+=(python3-pip)
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$ORT_LIB" ]; then
  echo "setup: installing the ONNX Runtime ${ORT_VERSION} library into ${ORT_DIR}"
  rm -rf "$ORT_DIR.partial"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$ORT_DIR.partial" "onnxruntime==${ORT_VERSION}"
  mkdir -p "$(dirname "$ORT_DIR")"
  rm -rf "$ORT_DIR"
  mv "$ORT_DIR.partial" "$ORT_DIR"
fi
if [ ! -f "$ORT_LIB" ]; then
  echo "setup: the onnxruntime package did not contain ${ORT_LIB}" >&2
  exit 1
fi
