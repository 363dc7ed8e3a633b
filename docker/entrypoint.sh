#!/bin/sh
# kafkapy's container entrypoint: maps KAFKA_* environment variables to Kafka property names
# (the convention of Apache Kafka's and Confluent's images: KAFKA_ prefix dropped, lower case,
# "_" -> ".", "__" -> "_", "___" -> "-"), e.g. KAFKA_AUTO_CREATE_TOPICS_ENABLE=false becomes
# auto.create.topics.enable=false, KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://localhost:9092 sets the
# advertised host and port. KAFKAPY_HOST, KAFKAPY_PORT, KAFKAPY_DATA_DIR and KAFKAPY_LOG_LEVEL set
# kafkapy's own flags. Extra arguments go to `kafkapy serve` as they are. The broker writes the
# HOST:PORT it listens on to KAFKAPY_READY_FILE, where the image's healthcheck (healthcheck.sh) reads it.
set -eu

ready_file=${KAFKAPY_READY_FILE:-/tmp/kafkapy.ready}
# A file left by an earlier run of this container must not vouch for a broker not yet listening.
rm -f "$ready_file"

set -- --host "${KAFKAPY_HOST:-0.0.0.0}" --port "${KAFKAPY_PORT:-9092}" \
    --data-dir "${KAFKAPY_DATA_DIR:-/var/lib/kafkapy}" --log-level "${KAFKAPY_LOG_LEVEL:-info}" "$@"

for name in $(env | sed -n 's/^\(KAFKA_[A-Z0-9_]*\)=.*/\1/p'); do
    eval "value=\${$name}"
    # Kubernetes gives every pod of a namespace with a Service called "kafka" its address as
    # KAFKA_SERVICE_HOST, KAFKA_PORT=tcp://..., KAFKA_PORT_9092_TCP...: not properties.
    case "$name=$value" in
    KAFKA_SERVICE_HOST=* | KAFKA_SERVICE_PORT=* | KAFKA_SERVICE_PORT_*=* | KAFKA_PORT=tcp://* | KAFKA_PORT_[0-9]*) continue ;;
    esac
    property=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' \
        | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
    set -- "$@" --override "$property=$value"
done
set -- "$@" --ready-file "$ready_file"

exec "${KAFKAPY_BIN:-kafkapy}" serve "$@"
