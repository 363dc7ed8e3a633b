#!/bin/sh
# kafkapy's container entrypoint: maps KAFKA_* environment variables to Kafka property names
# (the convention of Apache Kafka's and Confluent's images: KAFKA_ prefix dropped, lower case,
# "_" -> ".", "__" -> "_", "___" -> "-"), e.g. KAFKA_AUTO_CREATE_TOPICS_ENABLE=false becomes
# auto.create.topics.enable=false. Extra arguments go to `kafkapy serve` as they are.
#
# Listeners, as Apache Kafka's image sets them up: without KAFKA_LISTENERS the broker listens on every
# KAFKA_ADVERTISED_LISTENERS port on all interfaces; a listener written without a host (SASL_SSL://:9093)
# listens on all interfaces, as in Kafka; with neither, PLAINTEXT on 0.0.0.0:9092 advertised as
# localhost:9092 (a published port). Every listener is reachable by whoever reaches the container, and a
# PLAINTEXT one serves them unauthenticated: anyone there may create and delete topics.
#
# Secrets, as Apache Kafka's image takes them: files under /etc/kafka/secrets (KAFKAPY_SECRETS_DIR) named by
# KAFKA_SSL_KEYSTORE_FILENAME, KAFKA_SSL_KEYSTORE_CREDENTIALS, KAFKA_SSL_KEY_CREDENTIALS,
# KAFKA_SSL_TRUSTSTORE_FILENAME and KAFKA_SSL_TRUSTSTORE_CREDENTIALS (a credentials file holds the password),
# and the KafkaServer section of the JAAS file KAFKA_OPTS names with -Djava.security.auth.login.config=FILE.
# A named file that is missing stops the start with one line. Passwords (these, and any KAFKA_*_PASSWORD,
# *_SASL_JAAS_CONFIG, KAFKA_SSL_KEYSTORE_KEY or KAFKA_KAFKAPY_SASL_USERS) reach `kafkapy serve` through its
# stdin as a properties file (--config /dev/stdin), not its command line, which any process can read.
#
# KAFKAPY_HOST is where listeners without a host listen (default 0.0.0.0; 127.0.0.1 keeps them inside the
# container), KAFKAPY_PORT the first listener's port; KAFKAPY_DATA_DIR and KAFKAPY_LOG_LEVEL set kafkapy's
# own flags; KAFKAPY_PYTHON is the Python that has kafkapy (python3). The broker writes the HOST:PORT of
# its first listener to KAFKAPY_READY_FILE, where the image's healthcheck (healthcheck.sh) reads it.
set -eu

ready_file=${KAFKAPY_READY_FILE:-/tmp/kafkapy.ready}
secrets_dir=${KAFKAPY_SECRETS_DIR:-/etc/kafka/secrets}
# A file left by an earlier run of this container must not vouch for a broker not yet listening.
rm -f "$ready_file"

fail() {
    echo "kafkapy: $*" >&2
    exit 1
}

if [ -z "${KAFKA_LISTENERS-}" ] && [ -z "${KAFKA_ADVERTISED_LISTENERS-}" ]; then
    KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://localhost:9092
    export KAFKA_ADVERTISED_LISTENERS
fi
if [ -z "${KAFKA_LISTENERS-}" ]; then
    # Apache Kafka's image: the advertised listeners, on every interface.
    KAFKA_LISTENERS=$(printf '%s' "$KAFKA_ADVERTISED_LISTENERS" \
        | sed -e 's|://\[[^]]*\]:|://:|g' -e 's|://[^:/,]*:|://:|g')
fi
# A listener without a host listens on every interface in Kafka; kafkapy's would take --host (127.0.0.1).
listen_host=${KAFKAPY_HOST:-0.0.0.0}
case "$listen_host" in
*:*) listen_host="[$listen_host]" ;;
esac
KAFKA_LISTENERS=$(printf '%s' "$KAFKA_LISTENERS" | sed -e "s|://:|://$listen_host:|g")
export KAFKA_LISTENERS

# Properties that carry secrets, one per line, for `kafkapy serve --config /dev/stdin`. A properties file
# reads a backslash as an escape, so each is doubled: the value arrives as the variable holds it.
secret_properties=""
add_secret_property() {
    secret_properties="$secret_properties$(printf '%s' "$1" | sed -e 's/\\/\\\\/g')
"
}

# The path of the file under $secrets_dir that variable $1 names; stops the start if it does not exist.
secret_file() {
    eval "file=\${$1}"
    path="$secrets_dir/$file"
    [ -f "$path" ] || fail "$1=$file: $path does not exist (mount the secrets directory at $secrets_dir)"
    [ -r "$path" ] || fail "$1=$file: $path is not readable by uid $(id -u) (chmod a+r it, or run with --user)"
}

# The password in the credentials file variable $1 names (one line; its line end is not part of it).
credentials() {
    secret_file "$1"
    password=$(cat "$path")
    case "$password" in
    *"
"*) fail "$1=$file: $path holds more than one line; a credentials file holds the password alone" ;;
    esac
}

# Apache Kafka's image's variables naming a file under $secrets_dir, and the property each becomes: the
# file's path for a *_FILENAME, the password it holds for a *_CREDENTIALS.
secret_variables="KAFKA_SSL_KEYSTORE_FILENAME:ssl.keystore.location
KAFKA_SSL_KEYSTORE_CREDENTIALS:ssl.keystore.password
KAFKA_SSL_KEY_CREDENTIALS:ssl.key.password
KAFKA_SSL_TRUSTSTORE_FILENAME:ssl.truststore.location
KAFKA_SSL_TRUSTSTORE_CREDENTIALS:ssl.truststore.password"
for mapping in $secret_variables; do
    variable=${mapping%%:*}
    eval "named=\${$variable-}"
    [ -n "$named" ] || continue
    case "$variable" in
    *_FILENAME)
        secret_file "$variable"
        add_secret_property "${mapping#*:}=$path"
        ;;
    *)
        credentials "$variable"
        add_secret_property "${mapping#*:}=$password"
        ;;
    esac
done

jaas_file=$(printf '%s\n' "${KAFKA_OPTS-}" | sed -n 's/.*-Djava\.security\.auth\.login\.config==*\([^ ]*\).*/\1/p')
if [ -n "$jaas_file" ]; then
    # The JAAS file's KafkaServer section as listener.name.<listener>.<mechanism>.sasl.jaas.config
    # properties (kafkapy.security.static_jaas); it prints the one line saying why it cannot.
    jaas_properties=$("${KAFKAPY_PYTHON:-python3}" -m kafkapy.security.static_jaas "$jaas_file" \
        "$KAFKA_LISTENERS" "${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP-}" "${KAFKA_CONTROLLER_LISTENER_NAMES-}") \
        || exit 1
    add_secret_property "$jaas_properties"
fi

set -- --data-dir "${KAFKAPY_DATA_DIR:-/var/lib/kafkapy}" --log-level "${KAFKAPY_LOG_LEVEL:-info}" "$@"
if [ -n "${KAFKAPY_PORT-}" ]; then
    set -- --port "$KAFKAPY_PORT" "$@"
fi

for name in $(env | sed -n 's/^\(KAFKA_[A-Z0-9_]*\)=.*/\1/p'); do
    eval "value=\${$name}"
    # Kubernetes gives every pod of a namespace with a Service called "kafka" its address as
    # KAFKA_SERVICE_HOST, KAFKA_PORT=tcp://..., KAFKA_PORT_9092_TCP...: not properties.
    case "$name=$value" in
    KAFKA_SERVICE_HOST=* | KAFKA_SERVICE_PORT=* | KAFKA_SERVICE_PORT_*=* | KAFKA_PORT=tcp://* | KAFKA_PORT_[0-9]*) continue ;;
    esac
    # The image's secret files, read above; the JVM's options, of which kafkapy reads only the JAAS file.
    case "
$secret_variables" in
    *"
$name:"*) continue ;;
    esac
    if [ "$name" = KAFKA_OPTS ] && [ -n "$jaas_file" ]; then
        continue
    fi
    property=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' \
        | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
    # KAFKA_LISTENER_NAME_SASL_SSL_... reads listener.name.sasl.ssl....: the listener is sasl_ssl (Apache
    # Kafka's image would want SASL__SSL, and ignore the property without a word).
    case "$property" in
    listener.name.*)
        for listener in $(printf '%s' "$KAFKA_LISTENERS" | tr ',' '\n' | sed -e 's|://.*||' | tr 'A-Z' 'a-z'); do
            dotted=$(printf '%s' "$listener" | tr '_' '.')
            case "$property" in
            "listener.name.$dotted."*)
                property="listener.name.$listener.${property#"listener.name.$dotted."}"
                break
                ;;
            esac
        done
        ;;
    esac
    # A password or a user list goes through stdin with the image's secrets (a value written on several
    # lines, an inline PEM certificate, only fits on the command line).
    case "$property=$value" in
    *"
"*) ;;
    *.password=* | *sasl.jaas.config=* | *ssl.keystore.key=* | kafkapy.sasl.users=*)
        add_secret_property "$property=$value"
        continue
        ;;
    esac
    set -- "$@" --override "$property=$value"
done
set -- "$@" --ready-file "$ready_file"

if [ -z "$secret_properties" ]; then
    exec "${KAFKAPY_BIN:-kafkapy}" serve "$@"
fi
for arg in "$@"; do
    case "$arg" in
    --config | --config=*)
        fail "--config and the image's secrets (/etc/kafka/secrets, passwords, JAAS) cannot be combined:" \
            "the secrets come in as --config /dev/stdin; set the file's properties as KAFKA_* variables"
        ;;
    esac
done
exec "${KAFKAPY_BIN:-kafkapy}" serve --config /dev/stdin "$@" <<EOF
$secret_properties
EOF
