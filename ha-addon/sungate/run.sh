#!/usr/bin/with-contenv bashio
# The add-on's entry: the options (/data/options.json) and the Supervisor's MQTT service become
# /data/sungate.toml (`sungate addon-config`: the translation is the binary's, tested there, and
# checked by the same parser as `sungate check-config`), then the gateway runs on it. The
# history stays in /data (kept across restarts and updates, part of the add-on's backups).
set -e

args=()
if bashio::services.available "mqtt"; then
    host=$(bashio::services mqtt "host")
    port=$(bashio::services mqtt "port")
    args+=(--mqtt "${host}:${port}")
    user=$(bashio::services mqtt "username")
    if [ -n "$user" ]; then
        args+=(--mqtt-username "$user")
    fi
    # The password goes through the environment, never the command line.
    SUNGATE_MQTT_PASSWORD=$(bashio::services mqtt "password")
    export SUNGATE_MQTT_PASSWORD
else
    bashio::log.warning "No MQTT service: set mqtt_host in the options (or install the Mosquitto add-on)."
fi

sungate addon-config --options /data/options.json --output /data/sungate.toml \
    --history /data/history.db "${args[@]}"
unset SUNGATE_MQTT_PASSWORD
export RUST_LOG="${RUST_LOG:-info}"
exec sungate run --config /data/sungate.toml
