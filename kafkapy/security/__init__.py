"""Security: listeners and TLS, SASL authentication, ACLs and client quotas (Kafka's names throughout).

One connection's security state is a ``Session`` (kafkapy.security.session), made by the server when
the connection is accepted and read by every request's ``RequestContext``. Modules:

- ``listeners``: ``listeners`` / ``advertised.listeners`` / ``listener.security.protocol.map`` parsed
  into ``Listener``s; ``tls``: SSL contexts from Kafka's ``ssl.*`` properties, certificate principals;
  ``certs``: throwaway CA, broker and client certificates for tests (``kafkapy certs``).
- ``sasl``: SaslHandshake/SaslAuthenticate state and the mechanisms (PLAIN, SCRAM-SHA-256/512,
  OAUTHBEARER), each a ``SaslServer`` looked up in ``sasl_server.MECHANISMS``.
- ``authorizer``: Kafka's StandardAuthorizer over the ACLs stored in the data dir.
- ``quotas``: client quotas (producer_byte_rate, consumer_byte_rate, request_percentage) and throttling.
"""
