#!/usr/bin/env bash
# Starts (or stops) the test bed's two registries as units inside the bed:
# an open one on $TESTBED_REGISTRY and one with htpasswd auth on
# $TESTBED_AUTH_REGISTRY (user "testuser", password "testpassword").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BED=${TESTBED_DIR:-$ROOT/_output/testbed}
TB="$ROOT/hack/testbed/testbed.sh"
REGISTRY=${TESTBED_REGISTRY:-127.0.0.1:5000}
AUTH_REGISTRY=${TESTBED_AUTH_REGISTRY:-127.0.0.1:5001}
AUTH_USER=testuser
AUTH_PASSWORD=testpassword

write_config() { # name addr [auth]
	local dir=$BED/registry/$1
	mkdir -p "$dir/data"
	cat >"$dir/config.yml" <<-YAML
		version: 0.1
		log:
		  level: warn
		storage:
		  filesystem:
		    rootdirectory: $dir/data
		  delete:
		    enabled: true
		http:
		  addr: $2
	YAML
	if [ "${3:-}" = auth ]; then
		htpasswd -Bbn "$AUTH_USER" "$AUTH_PASSWORD" >"$dir/htpasswd"
		cat >>"$dir/config.yml" <<-YAML
			auth:
			  htpasswd:
			    realm: rktlet-testbed
			    path: $dir/htpasswd
		YAML
	fi
}

start_one() { # name addr
	local unit=testbed-registry-$1
	if bash "$TB" exec systemctl is-active --quiet "$unit"; then
		return 0
	fi
	if curl -s -o /dev/null --max-time 1 "http://$2/v2/"; then
		echo "registry.sh: something else already listens on $2" >&2
		return 1
	fi
	bash "$TB" exec systemctl reset-failed "$unit" >/dev/null 2>&1 || true
	bash "$TB" exec systemd-run --unit="$unit" --quiet --collect \
		/usr/bin/docker-registry serve "$BED/registry/$1/config.yml"
	local i
	for i in $(seq 1 100); do
		# 200 for the open registry, 401 for the one with auth
		case "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$2/v2/")" in
		200 | 401) return 0 ;;
		esac
		sleep 0.1
	done
	echo "registry.sh: $unit did not answer on $2" >&2
	bash "$TB" exec journalctl -u "$unit" --no-pager -n 20 >&2 || true
	return 1
}

case "${1:-}" in
start)
	write_config open "$REGISTRY"
	write_config auth "$AUTH_REGISTRY" auth
	start_one open "$REGISTRY"
	start_one auth "$AUTH_REGISTRY"
	;;
stop)
	bash "$TB" exec systemctl stop testbed-registry-open testbed-registry-auth >/dev/null 2>&1 || true
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
