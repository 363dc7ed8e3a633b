"""kafkapy: a Kafka-wire-compatible broker in Python."""

__version__ = "0.1.0"
# What `kafkapy serve` prints on stdout once the reset SIGUSR1 asks for is done (kafkapy.testing
# waits for it); here so that the CLI need not import the testing package.
RESET_DONE_LINE = "kafkapy reset done"
