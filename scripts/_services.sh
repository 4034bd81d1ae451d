# Sourced by scripts/test: install the system services the tests run for real (Debian/Ubuntu
# packages). Where they cannot be installed here (not root, no sudo, no apt-get), stop at once
# with the one command to run.
need=()
command -v openssl >/dev/null || need+=(openssl)              # a test TLS certificate
[ -x /usr/bin/prometheus ] || need+=(prometheus)              # real Prometheus for provider tests
command -v chromium >/dev/null || need+=(chromium)            # screenshot of the notebook widget
[ -x /usr/bin/influxd ] || need+=(influxdb)                   # real InfluxDB 1.x for its provider
[ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)  # real VictoriaMetrics
[ -x /usr/bin/carbon-cache ] || need+=(graphite-carbon)       # real Graphite: carbon stores...
[ -d /usr/lib/python3/dist-packages/graphite ] || need+=(graphite-web)  # ...graphite-web renders
if [ ${#need[@]} -gt 0 ]; then
  apt_cmd="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${need[*]}"
  if ! command -v apt-get >/dev/null; then
    echo "The tests need these services (Debian package names): ${need[*]}." >&2
    echo "Install them with your package manager, then run ./scripts/test again." >&2
    exit 2
  elif [ "$(id -u)" = 0 ]; then
    echo "== installing test services: ${need[*]}"
    bash -c "$apt_cmd"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "== installing test services: ${need[*]}"
    sudo bash -c "$apt_cmd"
  else
    echo "The tests need these services: ${need[*]}. Run once, then ./scripts/test again:" >&2
    echo "  sudo bash -c '$apt_cmd'" >&2
    exit 2
  fi
fi
