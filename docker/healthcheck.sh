#!/bin/sh
# The image's HEALTHCHECK: healthy once the broker answers ApiVersions where it listens. `kafkapy serve`
# writes that HOST:PORT to KAFKAPY_READY_FILE (entrypoint.sh asks it to), so the port checked is the one
# configured, however it was (KAFKAPY_PORT, --port, KAFKA_LISTENERS); a wildcard host is reached on
# loopback.
set -eu

ready_file=${KAFKAPY_READY_FILE:-/tmp/kafkapy.ready}
if [ ! -s "$ready_file" ]; then
    echo "kafkapy: not listening yet (no $ready_file)" >&2
    exit 1
fi
read -r address <"$ready_file"
host=${address%:*}
case "$host" in
0.0.0.0 | "" ) host=127.0.0.1 ;;
:: | "[::]") host=::1 ;;
esac
exec "${KAFKAPY_BIN:-kafkapy}" health --bootstrap-server "$host:${address##*:}"
